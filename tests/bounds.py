"""The float bounds the tests compare with, and where each comes from.

A bound is derived from the arithmetic (the format's precision, the number of accumulated terms) or, where rounding
travels through a network's many layers, from the spread measured over CPU kinds, with the margin stated. What is
exact is compared exactly, not here. Measured on an AMD EPYC with AVX-512 BF16, natively and with AVX2 kernels forced
(``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``). An Intel CPU with AMX runs the same AVX-512 kernels in fp32:
oneDNN uses AMX tiles for bf16 and int8 only.
"""

FP32_KERNELS = 1e-5
"""Largest difference between fp32 outputs of the micro network (logits and FPN features of magnitude about 1 or
less) computed by two kernel sets: another CPU's, another memory layout's, another runtime's (PyTorch, ONNX Runtime,
OpenVINO). Each layer rounds to 2^-24 relative in another order; measured at most 4e-7 in the logits and 1.1e-6 in
the FPN features over the AVX-512 and AVX2 kernels, so 1e-5 leaves about 10 times that."""

MAP_LEVELS_FP32 = 1
"""Largest difference, in grey levels, between two 8-bit maps trunc(255 sigmoid(z)) of fp32 logits less than 4/255
apart: sigmoid' <= 1/4, so 255 sigmoid(z) moves by less than one and its truncation by at most one level. fp32
runtimes' logits differ by about 1e-6 (FP32_KERNELS), far below 4/255 = 0.016."""

METRICS_FLOAT64 = 1e-6
"""Largest difference between our measures and pysodmetrics' on the same maps: both are float64 and combine a few
sums over at most 2048 x 2048 pixels, summed in other orders; each sum moves by at most (P - 1) * 2^-53 of itself,
5e-10 for P = 4.2 M pixels, so values in [0, 1] agree to about 1e-8 (measured: 1.1e-16 on the reference fixture).
1e-6 is the agreement the README states."""

QUANTIZED_SMEASURE = 0.005
"""Largest S-measure difference between int8 or bf16 predictions and fp32 ones on a model whose maps span the 8-bit
range (the ``overfit_run`` model on the 4 images it fits). S-measure min-max normalises a map, so its change follows
the maps' mean difference over their range: measured at most 0.05 grey levels over a range of 254 and |dS| <= 5e-5
(ONNX Runtime int8, OpenVINO int8, bf16 and int8 + bf16 on AVX-512 BF16), so 0.005 leaves 100 times that for other
CPUs' kernels (AMX, like AVX512-BF16, accumulates bf16 products in fp32). It is no bound for a model whose maps span
a few grey levels, such as an untrained one: normalisation turns one level into a third of the range there (the
suite's 2-step model, maps 2 to 3 levels wide, moved by 0.0027 in bf16 here and by 0.0105 on an AMX CPU)."""

QUANTIZED_MAP_MEAN = 1.0
"""Largest mean absolute difference, in grey levels, between int8 or bf16 maps and fp32 maps of the same fitted
model: measured at most 0.05 (QUANTIZED_SMEASURE's runs), so 20 times that."""

RELEASED_LOGITS = 3e-4
"""Largest difference between ``base_plus_official``'s fp32 logits (values in [-2.4, 0]) and the authors' code's, on
the formula weights and image of tests/fixtures/official_forward.pt: about 100 times the spread of reduction orders
and kernel sets (at most 2.7e-6), and 2.6 times below the smallest mistake tried (nearest FPN top-down, 7.7e-4). The
figures are in the docstring of test_checkpoints.py's test_base_plus_official_computes_what_the_released_code_computes.
"""

RELEASED_VIEW_LOGITS = 8e-3
"""The same for SAM2's per-view low-resolution logits (values in [-2.3, 6.5]): about 100 times their spread (at most
7.7e-5), 4.4 times below the nearest FPN's 3.5e-2."""
