"""Training recipes: the IBM set's, the reference notebook's (``seed``) and ours (``default``), and the
OHLC set's (:class:`OhlcRecipe`); each says which :class:`~training.models.Network` it builds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from training.models import Head, ModelKind, Network


@dataclass(frozen=True)
class ModelRecipe:
    """Everything needed to build and fit one network."""

    units: tuple[int, ...]
    dropout: float
    optimizer: Literal["rmsprop", "sgd", "adam"]
    learning_rate: float
    epochs: int
    batch_size: int
    momentum: float = 0.0
    # Predict the change from the window's last value (added back inside the model, so the saved
    # model still outputs the next value). Starting from a zero head makes the untrained model
    # exactly the persistence forecast.
    residual: bool = False
    # Early stopping on the last `validation_days` of the training period; 0 trains on all of it.
    validation_days: int = 0
    patience: int = 0

    def hyperparameters(self) -> dict[str, str | int | float | bool | list[int] | None]:
        params = asdict(self)
        params["units"] = list(self.units)
        return params

    def network(self, kind: ModelKind, window: int) -> Network:
        head: Head = "residual" if self.residual else "dense"
        return Network(
            kind, window, None, self.units, self.dropout, head, self.optimizer, self.learning_rate, self.momentum
        )


@dataclass(frozen=True)
class OhlcRecipe:
    """One recurrent layer over the bars and a zero-started head; early-stopped on the validation windows."""

    units: int = 32
    dropout: float = 0.0
    learning_rate: float = 1e-3
    batch_size: int = 256
    # An epoch cap and a short patience keep one network to about 5 CPU-minutes on 2 cores.
    epochs: int = 15
    patience: int = 3

    def hyperparameters(self) -> dict[str, str | int | float | bool | list[int] | None]:
        return dict(asdict(self))

    def network(self, kind: ModelKind, window: int, features: int) -> Network:
        return Network(kind, window, features, (self.units,), self.dropout, "zero", "adam", self.learning_rate)


def fit_options(recipe: ModelRecipe | OhlcRecipe) -> dict[str, int]:
    """How :func:`training.models.fit_model` trains a recipe's networks."""
    return {"epochs": recipe.epochs, "batch_size": recipe.batch_size, "patience": recipe.patience}


@dataclass(frozen=True)
class Recipe:
    name: str
    models: dict[ModelKind, ModelRecipe] = field(default_factory=dict)


SEED = Recipe(
    name="seed",
    models={
        "lstm": ModelRecipe(
            units=(50, 50, 50, 50), dropout=0.2, optimizer="rmsprop", learning_rate=0.001, epochs=50, batch_size=32
        ),
        "gru": ModelRecipe(
            units=(50, 50, 50, 50),
            dropout=0.2,
            optimizer="sgd",
            learning_rate=0.01,
            momentum=0.9,
            epochs=50,
            batch_size=150,
        ),
    },
)

# Chosen on the validation split (the last 250 trading days of 2006-2016), never on 2017: see
# README "How the default recipe was chosen".
_DEFAULT_MODEL = ModelRecipe(
    units=(16,),
    dropout=0.1,
    optimizer="adam",
    learning_rate=0.001,
    epochs=50,
    batch_size=64,
    residual=True,
    validation_days=250,
    patience=8,
)
DEFAULT = Recipe(name="default", models={"lstm": _DEFAULT_MODEL, "gru": _DEFAULT_MODEL})

RECIPES: dict[str, Recipe] = {r.name: r for r in (DEFAULT, SEED)}
