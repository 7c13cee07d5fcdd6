"""Gradient and signal-propagation analysis of networks, and the mean-field theory of activations.

Networks (any zoo model of :func:`nish_jax.create_model`, or a Flax module that takes its
activation as the ``act`` field):

- :func:`model_grad_norms`: per-example gradient norms per parameter, layer, parameter group and
  activation site, in eval or train mode (BatchNorm statistics, dropout), chunked;
  :func:`per_example_grad_norms` does the same for any per-example loss function.
- :func:`signal_propagation`: mean and variance before and after every activation, train vs eval.
- :func:`recalibrate_batch_stats`: BatchNorm running statistics recomputed exactly from data.

Activations (any elementwise function):

- :func:`activation_moments`, :func:`gaussian_expectation`, :func:`variance_preserving_gain`:
  Gaussian moments by quadrature that is exact at a kink.
- :func:`variance_map`, :func:`fixed_point`, :func:`chi1`, :func:`chi1_grid`,
  :func:`backward_factor`, :func:`batch_norm_backward_factor`: mean-field propagation.
- :func:`dropout_variance_shift`: the test-time variance shift of dropout before BatchNorm,
  compounded over a deep stack, in mean field.
"""

from nish_jax.analysis.batchnorm import recalibrate_batch_stats
from nish_jax.analysis.dropout import DropoutShift, dropout_variance_shift
from nish_jax.analysis.gradients import GradNorms, model_grad_norms, per_example_grad_norms
from nish_jax.analysis.meanfield import (
    MAX_VAR,
    MIN_VAR,
    backward_factor,
    batch_norm_backward_factor,
    chi1,
    chi1_grid,
    fixed_point,
    variance_map,
)
from nish_jax.analysis.moments import (
    ActivationMoments,
    activation_moments,
    gaussian_expectation,
    variance_preserving_gain,
)
from nish_jax.analysis.signal import SiteSignal, signal_propagation
from nish_jax.analysis.sites import Site, activation_sites

__all__ = [
    "MAX_VAR",
    "MIN_VAR",
    "ActivationMoments",
    "DropoutShift",
    "GradNorms",
    "Site",
    "SiteSignal",
    "activation_moments",
    "activation_sites",
    "backward_factor",
    "batch_norm_backward_factor",
    "chi1",
    "chi1_grid",
    "dropout_variance_shift",
    "fixed_point",
    "gaussian_expectation",
    "model_grad_norms",
    "per_example_grad_norms",
    "recalibrate_batch_stats",
    "signal_propagation",
    "variance_map",
    "variance_preserving_gain",
]
