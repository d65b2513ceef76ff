#!/bin/sh
test_description='releases: made by main and tag runs, stored once, signed, downloaded, verified'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/run-lib.sh"
. "$TEST_DIRECTORY/serve-lib.sh"

# wait_release REPO COUNT: waits until REPO has COUNT releases.
wait_release() {
    _n=0
    while [ "$(api GET "/api/v1/repos/$1/releases" | json '.releases | length')" != "$2" ]; do
        sleep 0.1
        _n=$((_n + 1))
        [ $_n -lt 100 ] || return 1
    done
}

# push_wait MESSAGE: commits in src, notifies, waits for every run to end.
push_wait() {
    (cd src && echo "$1" >>history && git add history && git commit -qm "$1") &&
    api POST /api/v1/repos/app/notify >/dev/null &&
    sleep 0.3 &&
    _n=0 && while runs_of app | grep -q "queued\|running"; do
        sleep 0.1; _n=$((_n + 1)); [ $_n -lt 200 ] || return 1
    done
}

test_expect_success 'setup: a repository whose build makes two files, and a server' '
    new_repo src &&
    cat >src/.flywheel.yml <<-\EOT &&
	jobs:
	  build:
	    run: |
	      mkdir -p dist
	      printf "app built from %s\n" "$(cat VERSION)" >dist/app
	      chmod +x dist/app
	      head -c 3000 /dev/zero | tr "\0" "x" >dist/notes.txt
	    artifacts: [dist/]
	  test: { run: "test -x dist/app", needs: [build] }
	  e2e: { run: "test ! -e FAIL_E2E", needs: [build], when: main }
	release:
	  from: build
	EOT
    echo 1.0 >src/VERSION &&
    commit_all src pipeline &&
    start_server data --slots 2 &&
    api POST /api/v1/repos "{\"name\": \"app\", \"url\": \"$TRASH/src\"}" >/dev/null &&
    status_is 201 &&
    i=0 && while [ ! -d data/git/app.git ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done &&
    sleep 0.3
'

test_expect_success 'the signing key is made at its first use, with mode 0600, and its public half is served' '
    test_path_is_missing data/signing-key.pem &&
    api GET /api/v1/signing-key >key.json && status_is 200 &&
    test "$(stat -c %a data/signing-key.pem)" = 600 &&
    json .algorithm <key.json >alg && test "$(cat alg)" = ed25519 &&
    json .keyid <key.json | grep -E "^SHA256:[0-9a-f]{64}$" &&
    json .public_key <key.json | grep "BEGIN PUBLIC KEY"
'

test_expect_success 'a change run makes no release' '
    (cd src && git checkout -q -b feature && echo f >f && git add f && git commit -qm f) &&
    api POST /api/v1/repos/app/notify >/dev/null &&
    i=0 && while [ "$(runs_of app | grep -c passed)" -lt 1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done &&
    runs_of app | grep "change refs/heads/feature passed" &&
    api GET /api/v1/repos/app/releases | json ".releases | length" >n &&
    test "$(cat n)" = 0 &&
    (cd src && git checkout -q main)
'

test_expect_success 'a main run makes release r1 with the files, sizes and digests built' '
    push_wait "main 1" &&
    wait_release app 1 &&
    api GET /api/v1/repos/app/releases/r1 >r1.json && status_is 200 &&
    json .version <r1.json >v && test "$(cat v)" = r1 &&
    json .commit <r1.json >c && test "$(cat c)" = "$(git -C src rev-parse HEAD)" &&
    json .ref <r1.json >ref && test "$(cat ref)" = refs/heads/main &&
    json ".run.kind" <r1.json >kind && test "$(cat kind)" = main &&
    json ".files[] | \"\(.path) \(.size) \(.digest) \(.mode)\"" <r1.json >files &&
    printf "app built from 1.0\n" >want-app &&
    head -c 3000 /dev/zero | tr "\0" "x" >want-notes &&
    cat >expect <<-EOF &&
	dist/app 19 sha256:$(sha256sum <want-app | cut -c1-64) 493
	dist/notes.txt 3000 sha256:$(sha256sum <want-notes | cut -c1-64) 420
	EOF
    test_cmp expect files &&
    json .pipeline_digest <r1.json >pd &&
    test "$(cat pd)" = "sha256:$(git -C src show HEAD:.flywheel.yml | sha256sum | cut -c1-64)" &&
    json .bad <r1.json >bad && test "$(cat bad)" = null
'

test_expect_success 'the provenance is an in-toto statement with an SLSA predicate naming the files' '
    json .provenance.payloadType <r1.json >pt &&
    test "$(cat pt)" = application/vnd.in-toto+json &&
    json .provenance.payload <r1.json | base64 -d >statement &&
    json .predicateType <statement >pred && test "$(cat pred)" = https://slsa.dev/provenance/v1 &&
    json ".subject[] | \"\(.name) \(.digest.sha256)\"" <statement >subjects &&
    cut -d" " -f1,3 expect | sed "s/ sha256:/ /" >want-subjects &&
    test_cmp want-subjects subjects &&
    json ".predicate.buildDefinition.resolvedDependencies[0].digest.gitCommit" <statement >gc &&
    test "$(cat gc)" = "$(git -C src rev-parse HEAD)" &&
    json ".provenance.signatures[0].keyid" <r1.json >kid &&
    test "$(cat kid)" = "$(json .keyid <key.json)"
'

test_expect_success 'the same bytes from another run are stored once' '
    push_wait "main 2" &&
    wait_release app 2 &&
    api GET /api/v1/repos/app/releases/r2 | json ".files[].digest" >d2 &&
    json ".files[].digest" <r1.json >d1 &&
    test_cmp d1 d2 &&
    for d in $(cat d1); do h=${d#sha256:}; test -f "data/cas/sha256/$(echo $h | cut -c1-2)/$h" || return 1; done &&
    find data/cas/sha256 -type f >blobs &&
    test "$(wc -l <blobs)" = 2
'

test_expect_success 'a main run with a failed check makes no release' '
    (cd src && touch FAIL_E2E && git add FAIL_E2E) &&
    push_wait "main 3 broken" &&
    runs_of app | tail -n 1 | grep " failed " &&
    sleep 0.3 &&
    api GET /api/v1/repos/app/releases | json ".releases | length" >n &&
    test "$(cat n)" = 2 &&
    (cd src && git rm -q FAIL_E2E && git commit -qm "fix e2e")
'

test_expect_success 'a tag run makes a release named after the tag' '
    (cd src && echo 1.1 >VERSION && git commit -qam "1.1" && git tag v1.1) &&
    api POST /api/v1/repos/app/notify >/dev/null &&
    wait_release app 4 &&
    api GET /api/v1/repos/app/releases | json ".releases[].version" >versions &&
    grep "^v1.1$" versions &&
    api GET /api/v1/repos/app/releases/v1.1 | json ".run.kind" >kind &&
    test "$(cat kind)" = tag
'

test_expect_success 'releases are listed newest first, by pages' '
    api GET "/api/v1/repos/app/releases?limit=2" >page && status_is 200 &&
    json ".releases | length" <page >n && test "$(cat n)" = 2 &&
    json .next_before <page >nb && test "$(cat nb)" != null &&
    api GET "/api/v1/repos/app/releases?limit=2&before=$(cat nb)" | json ".releases[].number" >rest &&
    test "$(cat rest)" = "$(printf "2\n1")" &&
    api GET /api/v1/repos/nope/releases >/dev/null && status_is 404 &&
    api GET /api/v1/repos/app/releases/r99 >/dev/null && status_is 404
'

test_expect_success 'one file downloads whole and by byte range, with its type and digest' '
    URL=$(cat url) &&
    curl -s -H "$(auth_header)" -D hdr -o app "$URL/api/v1/repos/app/releases/r1/file?path=dist/app" &&
    test_cmp want-app app &&
    grep -i "^content-type: application/octet-stream" hdr &&
    grep -i "^x-flywheel-digest: sha256:" hdr &&
    curl -s -H "$(auth_header)" -D hdr -o part -r 4-8 "$URL/api/v1/repos/app/releases/r1/file?path=dist/notes.txt" &&
    grep "^HTTP/1.1 206" hdr &&
    grep -i "^content-range: bytes 4-8/3000" hdr &&
    test "$(cat part)" = xxxxx &&
    curl -s -H "$(auth_header)" -D hdr -o /dev/null -r 5000- "$URL/api/v1/repos/app/releases/r1/file?path=dist/notes.txt" &&
    grep "^HTTP/1.1 416" hdr &&
    api GET "/api/v1/repos/app/releases/r1/file?path=nope" >/dev/null && status_is 404 &&
    api GET "/api/v1/repos/app/releases/r1/file" >/dev/null && status_is 400
'

test_expect_success 'the archive holds manifest, provenance, key and files; tar reads it' '
    URL=$(cat url) &&
    curl -sf -H "$(auth_header)" -o r1.tar "$URL/api/v1/repos/app/releases/r1/archive" &&
    tar -tf r1.tar >list &&
    grep "^app-r1/release.json$" list &&
    grep "^app-r1/provenance.json$" list &&
    grep "^app-r1/signing-key.pem$" list &&
    grep "^app-r1/files/dist/app$" list &&
    mkdir x && tar -xf r1.tar -C x &&
    test_cmp want-app x/app-r1/files/dist/app
'

test_expect_success 'release download and verify, offline, from a directory and from the archive' '
    fw release download app r1 -o dl >out &&
    test_cmp want-app dl/files/dist/app &&
    test -x dl/files/dist/app &&
    flywheel release verify dl >out &&
    grep "release r1 of app" out && grep "every digest matches" out &&
    grep "$(json .keyid <key.json)" out &&
    flywheel release verify r1.tar >out &&
    grep "every digest matches" out &&
    json .public_key <key.json >server.pem &&
    flywheel release verify --key server.pem --json dl >out.json &&
    json .ok <out.json >ok && test "$(cat ok)" = true
'

test_expect_success 'verify catches a changed file, an extra file and a missing one' '
    cp -r dl t1 && chmod u+w t1/files/dist/app && echo evil >>t1/files/dist/app &&
    test_expect_code 1 flywheel release verify t1 2>err &&
    grep "file dist/app: its content hashes to sha256:" err &&
    cp -r dl t2 && echo x >t2/files/extra &&
    test_expect_code 1 flywheel release verify t2 2>err &&
    grep "file extra is not part of the release" err &&
    cp -r dl t3 && rm -f t3/files/dist/notes.txt &&
    test_expect_code 1 flywheel release verify t3 2>err &&
    grep "file dist/notes.txt is missing" err
'

test_expect_success 'verify catches a changed manifest and a changed provenance' '
    cp -r dl t4 && chmod -R u+w t4 &&
    printf "app built from 6.6\n" >t4/files/dist/app &&
    jq ".files[0].digest = \"sha256:$(sha256sum <t4/files/dist/app | cut -c1-64)\" | .files[0].size = 19" \
        dl/release.json >t4/release.json &&
    test_expect_code 1 flywheel release verify t4 2>err &&
    grep "dist/app" err &&
    cp -r dl t5 && chmod -R u+w t5 &&
    zeros=$(printf "0%.0s" $(seq 64)) &&
    json .payload <dl/provenance.json | base64 -d |
        jq -c ".subject[0].digest.sha256 = \"$zeros\"" >stmt &&
    jq ".payload = \"$(base64 -w0 <stmt)\"" dl/provenance.json >t5/provenance.json &&
    test_expect_code 1 flywheel release verify t5 2>err &&
    grep "signature does not match" err
'

test_expect_success 'verify with another key fails' '
    openssl genpkey -algorithm ed25519 -out other.key 2>/dev/null &&
    openssl pkey -in other.key -pubout -out other.pem &&
    test_expect_code 1 flywheel release verify --key other.pem dl 2>err &&
    grep "SHA256:" err
'

test_expect_success 'a corrupt blob is reported and never served' '
    json ".files[0].digest" <r1.json >d && h=$(cut -c8- d) &&
    blob=data/cas/sha256/$(echo $h | cut -c1-2)/$h &&
    cp "$blob" blob.orig &&
    chmod u+w "$blob" && printf "tampered\n" >"$blob" &&
    api GET "/api/v1/repos/app/releases/r1/file?path=dist/app" >corrupt && status_is 500 &&
    json .error <corrupt >code && test "$(cat code)" = corrupt_blob &&
    ! grep tampered corrupt &&
    api GET /api/v1/repos/app/releases/r1/archive >/dev/null && status_is 500 &&
    test_must_fail fw release download app r1 -o dl2 2>err &&
    grep "is corrupt" err &&
    cat blob.orig >"$blob" && chmod a-w "$blob" &&
    api GET "/api/v1/repos/app/releases/r1/file?path=dist/app" >whole && status_is 200 &&
    test_cmp want-app whole
'

test_expect_success 'a release is marked bad with a reason, and good again' '
    api POST /api/v1/repos/app/releases/r2/bad "{}" >/dev/null && status_is 400 &&
    fw release bad app r2 --reason "error rate up on the canary" >out &&
    api GET /api/v1/repos/app/releases/r2 | json .bad.reason >reason &&
    test "$(cat reason)" = "error rate up on the canary" &&
    fw releases app >list &&
    grep "^r2 .*bad: error rate up on the canary" list &&
    fw release show app r2 >show &&
    grep "status    bad: error rate up on the canary" show &&
    fw release good app r2 &&
    api GET /api/v1/repos/app/releases/r2 | json .bad >bad && test "$(cat bad)" = null &&
    test_expect_code 1 fw release bad app r99 --reason x 2>err &&
    grep "no release .r99." err
'

test_expect_success 'a release lost by a crash before it was recorded is made on restart' '
    stop_server TERM &&
    r4=$(sqlite3 data/flywheel.db "SELECT run_id FROM releases WHERE version = '\''v1.1'\''") &&
    sqlite3 data/flywheel.db "DELETE FROM releases WHERE version = '\''v1.1'\''; UPDATE runs SET release_pending = 1 WHERE id = $r4" &&
    start_server data --slots 2 &&
    wait_release app 4 &&
    api GET /api/v1/repos/app/releases/v1.1 | json .run.id >id && test "$(cat id)" = "$r4" &&
    sqlite3 data/flywheel.db "SELECT count(*) FROM runs WHERE release_pending <> 0" >pending &&
    test "$(cat pending)" = 0
'

test_expect_success 'retention keeps a release an environment ran and removes the others' '
    stop_server TERM &&
    sqlite3 data/flywheel.db "UPDATE releases SET deployed_ms = 1 WHERE version = '\''r1'\''" &&
    cat >keep.yml <<-EOT &&
	retention: { runs: 1, interval: 1s }
	EOT
    start_server data --slots 2 --config keep.yml &&
    i=0 && while api GET /api/v1/repos/app/releases/r2 >/dev/null && [ "$(cat status)" = 200 ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done &&
    api GET /api/v1/repos/app/releases/r2 >/dev/null && status_is 404 &&
    api GET /api/v1/repos/app/releases/r1 >/dev/null && status_is 200 &&
    api GET "/api/v1/repos/app/releases/r1/file?path=dist/app" >got && status_is 200 &&
    test_cmp want-app got
'

test_expect_success 'stop the server' '
    stop_server TERM
'

test_expect_success 'a key file others may read stops the server at its start, and is kept' '
    mkdir -p loose &&
    cp data/signing-key.pem loose/ && chmod 0644 loose/signing-key.pem &&
    cp loose/signing-key.pem loose.want &&
    test_must_fail timeout 30 flywheel serve --data loose --listen 127.0.0.1:0 --poll 0s 2>err &&
    grep "signing-key.pem has mode 0644; it must be 0600" err &&
    test_cmp loose.want loose/signing-key.pem
'

test_expect_success 'a key file that holds no Ed25519 key stops the server at its start, and is kept' '
    mkdir -p garbled &&
    printf "not a key\n" >garbled/signing-key.pem && chmod 0600 garbled/signing-key.pem &&
    cp garbled/signing-key.pem garbled.want &&
    test_must_fail timeout 30 flywheel serve --data garbled --listen 127.0.0.1:0 --poll 0s 2>err &&
    grep "signing-key.pem is not a PEM private key (or it is encrypted)" err &&
    test_cmp garbled.want garbled/signing-key.pem
'

test_done
