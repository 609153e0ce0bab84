# verdicts.sh: sourced by the test runners (run-tests.sh, run-verbs-tests.sh,
# run-fakehosts-tests.sh).  tally LABEL STATUS LOG adds the closing "N passed, N failed" line
# of a run's LOG to $passed and $failed.  A run without that line (a crash, or a hang that
# timeout ended with STATUS 124) counts as one failure, and so does a non-zero STATUS with no
# failed test.
passed=0
failed=0
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
