#!/bin/sh
test_description='Ed25519 signatures and DSSE envelopes agree with openssl(1)'
. "$(dirname "$0")/test-lib.sh"

if ! command -v openssl >/dev/null 2>&1; then
    cd / && rm -rf "$TRASH"
    say "1..0 # SKIP openssl(1) is not installed: no cross-check with OpenSSL's command line"
    exit 0
fi

test_expect_success 'a new key has mode 0600 and is reloaded as the same key' '
    printf "hello, flywheel\n" >msg &&
    test-tool sign key.pem msg sig pub.pem >id1 &&
    test_path_is_file key.pem &&
    test "$(stat -c %a key.pem)" = 600 &&
    test "$(wc -c <sig)" -eq 64 &&
    test-tool sign key.pem msg sig2 pub2.pem >id2 &&
    test_cmp id1 id2 &&
    test_cmp pub.pem pub2.pem &&
    test_cmp sig sig2 &&
    grep -q "^SHA256:[0-9a-f]\{64\}$" id1
'

test_expect_success 'openssl verifies a flywheel signature with the public PEM' '
    openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in msg -sigfile sig >out &&
    grep "Signature Verified Successfully" out
'

test_expect_success 'openssl refuses it for another message' '
    printf "hello, flywheeL\n" >msg2 &&
    test_must_fail openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in msg2 -sigfile sig
'

test_expect_success 'the key id is SHA-256 over the raw public key' '
    openssl pkey -pubin -in pub.pem -outform DER | tail -c 32 >raw &&
    test "$(wc -c <raw)" -eq 32 &&
    echo "SHA256:$(openssl dgst -sha256 -r raw | cut -d" " -f1)" >expect &&
    test_cmp expect id1
'

test_expect_success 'flywheel checks a signature made by openssl with a key made by openssl' '
    openssl genpkey -algorithm ed25519 -out ossl.pem &&
    chmod 600 ossl.pem &&
    openssl pkey -in ossl.pem -pubout -out ossl.pub &&
    openssl pkeyutl -sign -inkey ossl.pem -rawin -in msg -out ossl.sig &&
    test-tool sign-check ossl.pub msg ossl.sig >out &&
    echo ok >expect &&
    test_cmp expect out &&
    test_must_fail test-tool sign-check ossl.pub msg2 ossl.sig >out &&
    echo "error: signature does not match" >expect &&
    test_cmp expect out &&
    test_must_fail test-tool sign-check pub.pem msg ossl.sig
'

test_expect_success 'flywheel signs with a key made by openssl; openssl agrees' '
    test-tool sign ossl.pem msg fw.sig fw.pub >/dev/null &&
    test_cmp ossl.pub fw.pub &&
    openssl pkeyutl -verify -pubin -inkey ossl.pub -rawin -in msg -sigfile fw.sig &&
    cmp ossl.sig fw.sig
'

test_expect_success 'a key file readable by others is refused and left alone' '
    cp key.pem open.pem &&
    chmod 644 open.pem &&
    test_must_fail test-tool sign open.pem msg s p 2>err &&
    echo "error: key file open.pem has mode 0644; it must be 0600" >expect &&
    test_cmp expect err &&
    test_cmp key.pem open.pem &&
    test_path_is_missing s
'

test_expect_success 'a DSSE envelope verifies with openssl over PAE' '
    printf "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[]}" >stmt &&
    test-tool prov-sign key.pem stmt >env &&
    sed "s/.*\"payload\":\"\([^\"]*\)\".*/\1/" env | base64 -d >payload &&
    test_cmp stmt payload &&
    sed "s/.*\"sig\":\"\([^\"]*\)\".*/\1/" env | base64 -d >env.sig &&
    printf "DSSEv1 28 application/vnd.in-toto+json %d " "$(wc -c <stmt)" >pae &&
    cat stmt >>pae &&
    openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in pae -sigfile env.sig &&
    test-tool prov-open pub.pem env >opened &&
    test_cmp stmt opened
'

test_expect_success 'an envelope signed by openssl over PAE opens with flywheel' '
    id=$(cat id1) &&
    openssl pkeyutl -sign -inkey key.pem -rawin -in pae -out ossl-env.sig &&
    printf "{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"%s\",\"signatures\":[{\"keyid\":\"%s\",\"sig\":\"%s\"}]}" \
        "$(base64 -w0 <stmt)" "$id" "$(base64 -w0 <ossl-env.sig)" >env2 &&
    test-tool prov-open pub.pem env2 >opened &&
    test_cmp stmt opened &&
    test_must_fail test-tool prov-open ossl.pub env2 >out &&
    grep "^error: no signature by key SHA256:" out
'

test_done
