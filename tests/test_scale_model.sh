#!/bin/sh
# test_scale_model.sh README MODEL: the scale model in the README is the one the script
# computes from the source today.
readme=$1 model=$2
want=$(sh "$model") || { echo "FAILED: $model did not run"; echo "0 passed, 1 failed"; exit 1; }
have=$(sed -n '/<!-- scale-model -->/,/<!-- \/scale-model -->/p' "$readme" | sed '1d;$d')
if [ "$want" = "$have" ]; then
    echo "ok   the README's scale model is what tools/scale-model computes"
    echo "1 passed, 0 failed"
else
    echo "FAILED: the README's scale model differs from tools/scale-model's; paste its output:"
    printf "%s\n" "$want"
    echo "0 passed, 1 failed"
    exit 1
fi
