"""The zoo networks as Flax NNX modules: ``model.train()`` and ``model.eval()`` switch their
BatchNorm and dropout as they switch ``nnx.BatchNorm`` and ``nnx.Dropout``.

>>> from flax import nnx
>>> import nish_jax.nnx
>>> model = nish_jax.nnx.create_model("cnn", num_classes=10, act="nish", rngs=nnx.Rngs(0))
>>> model.eval()  # running statistics, no dropout; model.train() switches back

Each network keeps its one definition, the linen module of :mod:`nish_jax.models`:
:class:`LinenBridge` owns its variables and dropout keys and runs it with the train flag that
its ``deterministic`` and ``use_running_average`` attributes set, so the NNX model computes what
the linen model computes from the same variables and dropout key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import nnx

from nish_jax import models

__all__ = ["LinenBridge", "create_model"]


def _is_variable(node: Any) -> bool:
    return isinstance(node, nnx.Variable)


class LinenBridge(nnx.Module):
    """A linen network whose ``__call__(x, train)`` switches BatchNorm and dropout, as an NNX
    module.

    Its variables are NNX variables at their linen paths in ``model.variables``, one type per
    collection (``params``: :class:`nnx.Param`, ``batch_stats``: :class:`nnx.BatchStat`), so
    ``nnx.Optimizer(model, tx, wrt=nnx.Param)`` trains the parameters and
    ``nnx.state(model, nnx.BatchStat)`` holds the running statistics. As with ``nnx.BatchNorm``
    and ``nnx.Dropout``, a new model is in train mode: the network runs with ``train=True``
    (batch statistics, its running statistics updated in place, dropout with keys drawn from the
    ``dropout`` stream of ``rngs``). ``model.eval()``, or ``nnx.view(model, deterministic=True,
    use_running_average=True)``, runs it with ``train=False``. The network switches BatchNorm and
    dropout together, so the two attributes must agree when it is called.

    Args:
        module: the linen network; ``module.apply(variables, x, train=...)`` runs it.
        variables: its variables, as ``module.init`` returns them (for example
            ``{"params": ..., "batch_stats": ...}``); training the model leaves them as they are.
        rngs: the dropout keys' source: its ``dropout`` stream, else its ``default`` one.
    """

    def __init__(self, module: nn.Module, variables: Mapping[str, Any], *, rngs: nnx.Rngs):
        self.module = module
        self.variables = nnx.data(
            {
                collection: jax.tree.map(nnx.variable_type_from_name(collection), tree)
                for collection, tree in variables.items()
            }
        )
        self.rngs = rngs["dropout"].fork()
        self.deterministic = False
        self.use_running_average = False

    def __call__(self, x: jax.Array, *, rngs: jax.Array | None = None) -> jax.Array:
        """The network's output for the batch ``x`` in the current mode.

        Args:
            x: a batch of inputs, as the linen network takes them.
            rngs: in train mode, the dropout key of this call (the linen
                ``rngs={"dropout": key}``) instead of the next key of the model's stream.

        Returns:
            The network's output (logits).
        """
        if self.deterministic != self.use_running_average:
            raise ValueError(
                f"{type(self.module).__name__} switches BatchNorm and dropout together (its train "
                f"flag), but deterministic={self.deterministic} and use_running_average="
                f"{self.use_running_average}; set both with model.train() or model.eval(), or "
                "nnx.view(model, deterministic=..., use_running_average=...)"
            )
        variables = self.linen_variables()
        if self.deterministic:
            return cast(jax.Array, self.module.apply(variables, x, train=False))
        out, updates = self.module.apply(
            variables,
            x,
            train=True,
            rngs={"dropout": self.rngs() if rngs is None else rngs},
            mutable=[collection for collection in variables if collection != "params"],
        )
        for collection, tree in updates.items():
            jax.tree.map(
                lambda variable, value: variable.set_value(value),
                self.variables[collection],
                tree,
                is_leaf=_is_variable,
            )
        return out

    def linen_variables(self) -> dict[str, Any]:
        """The variables as the linen network takes them, ``{collection: nested dict of arrays}``.

        Returns:
            ``{"params": ..., "batch_stats": ...}`` for the zoo networks, for ``module.apply``.
        """
        return jax.tree.map(
            lambda variable: variable.get_value(), self.variables, is_leaf=_is_variable
        )

    def set_view(
        self, deterministic: bool | None = None, use_running_average: bool | None = None
    ) -> None:
        """Set the mode for ``nnx.view``; ``None`` leaves an attribute as it is.

        Args:
          deterministic: if True, dropout is off.
          use_running_average: if True, BatchNorm normalises with the running statistics.
        """
        # The Args above are indented by two spaces, as nnx.view_info parses them.
        if deterministic is not None:
            self.deterministic = deterministic
        if use_running_average is not None:
            self.use_running_average = use_running_average


def create_model(
    name: str,
    *,
    rngs: nnx.Rngs,
    input_shape: tuple[int, ...] | None = None,
    **options: Any,
) -> LinenBridge:
    """The zoo network ``name`` as an NNX module (in train mode, as NNX layers start).

    Args:
        name: a name of :func:`nish_jax.models.list_models`.
        rngs: the initialisation key (the ``params`` stream, else ``default``) and the source of
            the dropout keys (``dropout``, else ``default``).
        input_shape: the shape of one example the network is initialised on; by default the
            model's (``nish_jax.models.get_spec(name).input_shape``).
        **options: passed to :func:`nish_jax.models.create_model`: ``num_classes``, ``act`` and
            the network's own options.

    Returns:
        A :class:`LinenBridge` with the variables ``module.init`` draws from the ``params`` key.
    """
    module = models.create_model(name, **options)
    shape = models.get_spec(name).input_shape if input_shape is None else input_shape
    init = jax.jit(module.init, static_argnames="train")
    variables = init(rngs.params(), jnp.zeros((1, *shape)), train=False)
    return LinenBridge(module, variables, rngs=rngs)
