# verdicts.sh: sourced by the test scripts (run-tests.sh, run-verbs-tests.sh,
# run-fakehosts-tests.sh, run-bench-smoke.sh, test_info.sh): one count of $passed and $failed.
#   tally LABEL STATUS LOG  adds the closing "N passed, N failed" line of a run's LOG.  A run
#                           without that line (a crash, or a hang that timeout ended with
#                           STATUS 124) counts as one failure, and so does a non-zero STATUS
#                           with no failed test.
#   verdict LABEL STATUS    one check of the script's own: STATUS 0 passes.
passed=0
failed=0
verdict() {
    if [ "$2" -eq 0 ]; then
        echo "ok   $1"
        passed=$((passed + 1))
    else
        echo "FAIL $1"
        failed=$((failed + 1))
    fi
}
tally() {
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$3" | tail -n 1)
    if [ -z "$line" ]; then
        if [ "$2" -eq 124 ]; then
            echo "*** $1: timed out"
        else
            echo "*** $1: ended (status $2) without a verdict"
        fi
        failed=$((failed + 1))
        return
    fi
    p=${line%% passed*}
    f=${line#*passed, }
    f=${f%% failed*}
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "*** $1: status $2"
        failed=$((failed + 1))
    fi
}
