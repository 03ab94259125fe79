#!/usr/bin/env bash
# The GPU check, as run on a lent CUDA machine (one command, under 10 minutes):
#   tests     the core suite with CUDA present (device="auto" picks the GPU, and
#             the tests marked gpu run)
#   reducers  benchmarks/reducers.py on the GPU, scikit-learn on all host cores
#   nmf2      the NMF benchmark again with scikit-learn capped at 2 threads: the
#             2-core CPU reference, measured in the same run as the GPU
#   features  benchmarks/features.py on the GPU
#   sweep     benchmarks/sweep.py on the GPU: 3 classes x 1,300 ImageNet-shaped JPEGs
#             (+ 50 held out), nvJPEG decode, ResNet50 layer4, every reducer for
#             c' = 5..50 batched and NMF one at a time; projection to 1,000 classes
# STEPS picks and orders them (default: the first four; the sweep step, ~4 minutes,
# runs when named: STEPS=sweep or STEPS="tests sweep"). Results go to $OUT (the device
# tool's folder) or var/gpu-check. Python is $PYTHON, default python3 (the
# machine's own torch); the core needs no Django.
set -u
out=${OUT:-var/gpu-check}
python=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi >"$out/nvidia-smi.txt" 2>&1
"$python" -c "import torch, torchvision, sklearn, numpy; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'sklearn', sklearn.__version__, 'numpy', numpy.__version__, torch.cuda.get_device_name())"
for step in ${STEPS:-tests reducers nmf2 features}; do
    echo "== $step"
    case $step in
    tests)  # -p no:benchmark: the host's pytest-benchmark claims the fixture name "benchmark"
        timeout 170 "$python" -m pytest -q -m "not slow" -p no:cacheprovider -p no:benchmark \
            tests/explainers/ice >"$out/pytest-cuda.txt" 2>&1
        echo "exit $?"; tail -n 15 "$out/pytest-cuda.txt" ;;
    reducers)
        for k in 10 50; do
            timeout 170 "$python" benchmarks/reducers.py --device cuda --components "$k" \
                --out "$out/reducers-cuda-$k.json" >/dev/null
            echo "c'=$k exit $?"
        done ;;
    nmf2)
        for k in 10 50; do
            timeout 230 "$python" benchmarks/reducers.py --device cuda --components "$k" --reducers nmf \
                --sklearn-threads 2 --out "$out/nmf-cuda-sklearn2threads-$k.json" >/dev/null
            echo "c'=$k exit $?"
        done ;;
    features)
        timeout 90 "$python" benchmarks/features.py --device cuda --out "$out/features-cuda.json" >/dev/null
        echo "exit $?" ;;
    sweep)  # at most 4 minutes; the JSON is rewritten after each class, so a timeout keeps the done ones
        timeout 240 "$python" benchmarks/sweep.py --device cuda --classes 3 --train-images 1300 \
            --test-images 50 --out "$out/sweep-cuda.json" >"$out/sweep-cuda.txt" 2>&1
        echo "exit $?"; tail -n 6 "$out/sweep-cuda.txt" ;;
    esac
done
