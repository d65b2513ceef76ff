#!/bin/sh
test_description='flywheel check on the data-driven cases of tests/data/pipeline

valid/NNN-name.yml must pass: exit 0, and standard output is exactly
valid/NNN-name.json (what --json prints). invalid/NNN-name.yml must fail:
exit 1, nothing on standard output, and standard error is exactly
invalid/NNN-name.err. Each check runs from the directory holding the file,
so that diagnostics name it as just NNN-name.yml.

A case too large or too binary to keep in git is a NNN-name.gen instead of
a .yml: a POSIX shell script printing the file, run at test time.'
. "$(dirname "$0")/test-lib.sh"

DATA=$TEST_DATA/pipeline

# case_names DIR: the cases of DIR (the names of its .yml and .gen files
# without the extension), sorted.
case_names() {
    for _f in "$1"/*.yml "$1"/*.gen; do
        [ -e "$_f" ] || continue
        _f=${_f##*/}
        printf '%s\n' "${_f%.*}"
    done | sort
}

# run_check KIND NAME [OPTION]: runs flywheel check on case NAME of KIND
# (valid or invalid), from the directory holding its file; leaves standard
# output in out, standard error in err and the exit status in rc.
run_check() {
    _dir=$DATA/$1
    if [ ! -f "$_dir/$2.yml" ]; then
        _dir=$TRASH/gen
        mkdir -p "$_dir" && sh "$DATA/$1/$2.gen" >"$_dir/$2.yml" || return 1
    fi
    (cd "$_dir" && flywheel check $3 "$2.yml") >out 2>err
    echo $? >rc
}

# expect_rc N: the last run_check exited with N.
expect_rc() {
    if [ "$(cat rc)" != "$1" ]; then
        echo "exit status $(cat rc), expected $1; standard error:" >&2
        head -n 20 err >&2
        return 1
    fi
}

test_expect_success 'every case has one input and one expected output, and nothing is left over' '
    bad= &&
    for kind in valid invalid; do
        want=json &&
        if [ $kind = invalid ]; then want=err; fi &&
        test -n "$(case_names "$DATA/$kind")" || bad="$bad $kind/(no cases)"
        for f in "$DATA/$kind"/*; do
            base=${f##*/} &&
            name=${base%.*} &&
            case $base in
            *.yml | *.gen)
                test -f "$DATA/$kind/$name.$want" || bad="$bad $kind/$base(no .$want)"
                if [ -f "$DATA/$kind/$name.yml" ] && [ -f "$DATA/$kind/$name.gen" ]; then
                    bad="$bad $kind/$name(.yml and .gen)"
                fi
                ;;
            *.$want)
                test -f "$DATA/$kind/$name.yml" || test -f "$DATA/$kind/$name.gen" ||
                    bad="$bad $kind/$base(no .yml or .gen)"
                ;;
            *)
                bad="$bad $kind/$base(unexpected file)"
                ;;
            esac
        done
    done &&
    if [ -n "$bad" ]; then
        echo "broken cases:$bad" >&2 &&
        false
    fi
'

for name in $(case_names "$DATA/valid"); do
    test_expect_success "valid/$name" '
        test_path_is_file "$DATA/valid/$name.json" &&
        run_check valid "$name" --json &&
        expect_rc 0 &&
        test_cmp "$DATA/valid/$name.json" out
    '
done

for name in $(case_names "$DATA/invalid"); do
    test_expect_success "invalid/$name" '
        test_path_is_file "$DATA/invalid/$name.err" &&
        run_check invalid "$name" &&
        expect_rc 1 &&
        test_cmp "$DATA/invalid/$name.err" err &&
        test_cmp /dev/null out
    '
done

test_done
