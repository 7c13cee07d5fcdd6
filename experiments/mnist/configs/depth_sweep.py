"""Fig. 2a, the MNIST depth sweep: test accuracy of a deep MLP against its depth, per activation.

    python -m experiments depth_sweep --config=full
    python -m experiments depth_sweep --config=quick

The paper's sweep is "as implemented in Mish": the Keras notebook ``Layers_Acc.ipynb`` of
digantamisra98/Mish (the source of its README's "layers vs accuracy" figure). Read there:

- a stem Conv2D(20, 5x5) -> act -> Conv2D(50, 5x5) -> act (both "valid", the activation under
  test), one MaxPool(2x2), Dropout(0.25), Flatten (5,000 features); then ``depth`` blocks of
  Dense(500) -> BatchNorm (Keras defaults: momentum 0.99, epsilon 1e-3) -> act -> Dropout(0.25);
  Dense(10) softmax; Keras default initialisers (Glorot-uniform kernels, zero biases);
- ``keras.optimizers.SGD()``: learning rate 0.01, no momentum, no decay, constant; categorical
  cross-entropy; batch 128; 10 epochs; shuffled; inputs divided by 255; no validation split (the
  test set is the "validation" data);
- depths ``range(12, 23)`` (the plot labels them 15..25, perhaps counting the two convolutions and
  the output layer), one run per depth; the log shows depth 22 still climbing at epoch 10
  (test accuracy 0.42 after 5 epochs, 0.85 after 10).

Our reading differs in one place everywhere: inputs are standardised with the data set's mean and
standard deviation instead of only divided by 255 (the first BatchNorm absorbs most of the
difference).

Variants:

- ``origin``: the notebook as closely as our sources allow (the stem, depths 12..22), 5 paired
  seeds instead of one; about 40 CPU-minutes per run on two cores, so meant for accelerators.
- ``full``: the full-scale run for two CPU cores, resumable, so it can be done in parts: 80 runs
  of 10 epochs, about 21 s an epoch through the engine at depth 20 (measured 2026-11-28; the bare
  step measured alone without dropout takes 13-15 s: drawing the dropout masks with threefry is
  most of the gap, the divergence check, evaluation and the host loop the rest), so about 4.8
  hours on two quiet cores, over the 3 hours we aimed for: the
  origin's 10 epochs were kept because its deep networks were still climbing at epoch 10. All
  60,000 training and 10,000 test images, the
  origin's optimiser, BatchNorm and epochs, 5 paired seeds. The paper's four activations and the
  controls ELU and GELU (is near-linearity alone enough?) at depths 20 and 25, and a learning-rate
  check (x0.3, x3) for Mish and Nish at depth 25. Cut, and why: the convolutional stem (15x the
  cost of the MLP on a CPU; the paper describes the sweep as "fully connected networks", which is
  what remains) and every depth below 20 (the claim is about depth 15 and beyond; 15 itself would
  add a quarter to the time: ``--config.depths='(15, 20, 25)'`` runs it).
- ``ours``: the earlier reading, kept as a labelled alternative: no stem, SGD with momentum 0.9
  (about ten times the origin's effective step), depths 1..30.
- ``quick`` (a few minutes on two CPU cores: 4,096 training images, 2 epochs, 3 depths, 2 seeds)
  and ``smoke`` (seconds, for the tests).

Primary endpoint (``primary``): test accuracy after the last epoch at depths 20 and 25, Nish
against each other activation, paired by seed. Everything else is exploratory.
"""

from ml_collections import ConfigDict

from experiments.mnist.configs import mnist_mlp

VARIANTS = ("origin", "full", "ours", "quick", "smoke")


def get_config(variant: str = "quick") -> ConfigDict:
    if variant not in VARIANTS:
        raise ValueError(f"unknown depth_sweep variant {variant!r}; valid: {', '.join(VARIANTS)}")
    config = ConfigDict()
    config.name = variant  # the results directory and the label of every output
    config.output_root = "results"
    config.activations = ("relu", "silu", "mish", "nish")
    config.depths = (20, 25)
    config.spread = "std"  # the band of the figure and the "±" of the table: "std" or "ci"
    config.vmap_seeds = False  # one program per seed (CPUs); True: all seeds at once
    # The primary endpoint: test accuracy (%) after the last epoch at these depths.
    config.primary_depths = (20, 25)
    # Controls at the primary depths: more activations, and other learning rates (x factor) for
    # some activations at the deepest primary depth. Empty tuples switch them off.
    config.control_activations = ("elu", "gelu")
    config.learning_rate_factors = (0.3, 3.0)
    config.learning_rate_activations = ("mish", "nish")

    train = mnist_mlp.get_config()
    train.num_runs = 5  # paired seeds: seed, seed + 1, ...
    train.checkpoint_every_steps = 0  # checkpoint at the end of each epoch
    if variant == "origin":
        config.depths = tuple(range(12, 23))
        config.primary_depths = (20, 22)
        train.model_options.stem = "origin"
    elif variant == "ours":
        config.depths = tuple(range(1, 31))
        config.control_activations = ()
        config.learning_rate_factors = ()
        train.momentum = 0.9
    elif variant == "quick":
        config.depths = (2, 10, 20)
        config.primary_depths = (20,)
        config.control_activations = ()
        config.learning_rate_factors = ()
        train.train_subset = 4096
        train.test_subset = 2000
        train.model_options.width = 256
        train.num_epochs = 2
        train.num_runs = 2
        train.momentum = 0.9
        train.learning_rate = 0.05  # 2 short epochs: a larger step than the origin's
        train.log_every_steps = 8
    elif variant == "smoke":
        config.activations = ("relu", "nish")
        config.depths = (1, 3)
        config.primary_depths = (3,)
        config.control_activations = ("gelu",)
        config.learning_rate_factors = (3.0,)
        config.learning_rate_activations = ("relu", "nish")
        train.train_subset = 256
        train.test_subset = 200
        train.model_options.width = 32
        train.batch_size = 32
        train.eval_batch_size = 100
        train.num_epochs = 1
        train.num_runs = 2
        train.learning_rate = 0.05
        train.log_every_steps = 4
    config.train = train
    return config
