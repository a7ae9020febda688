"""mer: facial micro-expression recognition, fast and honest (the C++ library from Python).

    import mer
    ds = mer.Dataset.synthetic()                  # or mer.Dataset("../shared/data/megc2019")
    result = mer.loso(ds, model="ststnet", epochs=20, out="runs/st")
    print(result["summary"]["uf1"])
    model = mer.load_checkpoint("runs/st/folds/synth__s01/model.pt")
    logits = model(ds.flows[:4])

Tensors are torch.Tensor sharing mer's memory; results are dicts (summary.json's content);
errors are mer.MerError (mer.ConfigError is also a ValueError) with mer's one-line message.
"""
import torch  # noqa: F401  (first: the compiled module passes torch.Tensor through torch's casters)

from ._mer import *  # noqa: F401,F403
from ._mer import __version__, has_vision  # noqa: F401


def predictions_frame(result):
    """A mer.loso result's per-sample predictions as a pandas.DataFrame (pandas required)."""
    import pandas

    return pandas.DataFrame(result["predictions"])
