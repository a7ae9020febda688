"""The Python module `mer` (tests/CMakeLists.txt runs this with PYTHONPATH=build/python)."""
import json
import os
import pathlib
import re
import subprocess

import pytest
import torch

import mer

BINARY = os.environ.get("MER_BINARY", "build/mer")
SOURCE_DIR = pathlib.Path(os.environ.get("MER_SOURCE_DIR", "."))
SHARED_DATA = pathlib.Path(os.environ.get("MER_SHARED_DATA", "../shared/data"))


def test_models_and_their_specs():
    names = mer.models()
    assert "ststnet" in names and "fr" in names
    spec = mer.model_spec("dere-grl")
    assert spec["name"] == "dere-grl"
    assert "adm_pool" in [o["name"] for o in spec["options"]]
    with pytest.raises(mer.ConfigError, match="nope"):
        mer.model_spec("nope")


def test_synthetic_dataset_tensors_share_memory():
    ds = mer.Dataset.synthetic(subjects=4, samples_per_subject=5)
    assert len(ds) == ds.flows.shape[0] == ds.labels.shape[0]
    assert ds.flows.shape[1:] == (3, 28, 28) and ds.flows.dtype == torch.float32
    assert ds.flows.data_ptr() == ds.flows.data_ptr()  # a view of mer's tensor, not a copy
    assert ds.landmarks.shape == (len(ds), 68, 2)
    assert ds.is_synthetic and ds.label.startswith("synthetic(")
    assert len(ds.samples["sample"]) == len(ds) and set(ds.subjects) == set(ds.fold_keys)


def test_errors_are_python_exceptions_with_mers_message(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(mer.MerError) as error:
        mer.Dataset(str(missing))
    assert str(missing) in str(error.value)
    assert "error.h" not in str(error.value) and ".cpp" not in str(error.value)
    with pytest.raises(ValueError, match="--model-opt|unknown|bogus"):
        mer.loso(model="ststnet", model_options={"bogus": 1}, epochs=1, folds="1",
                 out=str(tmp_path / "run"))


def cli_loso(out, *args):
    subprocess.run([BINARY, "loso", "--quiet", "--out", str(out), *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((out / "summary.json").read_text())


def test_loso_gives_the_cli_summary(tmp_path):
    events = []
    result = mer.loso(mer.Dataset.synthetic(subjects=6), model="ststnet", epochs=3, folds="3",
                      out=str(tmp_path / "py"), progress=events.append)
    cli = cli_loso(tmp_path / "cli", "--synth-subjects", "6", "--epochs", "3", "--folds", "3")
    summary = result["summary"]
    for key in ("uf1", "uar", "accuracy", "n", "confusion", "per_dataset", "per_class", "model",
                "model_options", "protocol", "epochs", "seed", "data"):
        assert summary.get(key) == cli.get(key), key
    assert result["out"] == str(tmp_path / "py")
    columns = result["predictions"]
    assert len(columns["sample"]) == summary["n"]
    assert {"fold", "label", "prediction", "predicted"} <= set(columns)
    assert any(k.startswith("p_") for k in columns)
    assert events and events[-1]["done"] == events[-1]["total"] == 3 * 3
    assert any("fold" in e["message"] for e in events)


def test_loso_stacks_folds_as_the_cli_does(tmp_path):
    result = mer.loso(mer.Dataset.synthetic(subjects=6), model="ststnet", epochs=2, folds="3",
                      fold_batch=3, out=str(tmp_path / "py"))
    cli = cli_loso(tmp_path / "cli", "--synth-subjects", "6", "--epochs", "2", "--folds", "3",
                   "--fold-batch", "3")
    assert result["summary"]["uf1"] == cli["uf1"]
    assert result["summary"]["confusion"] == cli["confusion"]
    with open(tmp_path / "py" / "run.json") as f:
        assert json.load(f)["settings"]["fold_batch"] == 3


def test_loso_trains_a_generic_stack_in_mixed_precision_as_the_cli_does(tmp_path):
    args = dict(model="rrrn", epochs=1, folds="2", fold_batch=2, precision="bf16")
    result = mer.loso(mer.Dataset.synthetic(subjects=4), out=str(tmp_path / "py"), **args)
    cli = cli_loso(tmp_path / "cli", "--synth-subjects", "4", "--model", "rrrn", "--epochs", "1",
                   "--folds", "2", "--fold-batch", "2", "--precision", "bf16")
    assert result["summary"]["confusion"] == cli["confusion"]
    assert result["summary"]["training"]["precision"] == "bf16"
    with open(tmp_path / "py" / "run.json") as f:
        settings = json.load(f)["settings"]
    assert settings["precision"] == "bf16" and settings["fold_batch"] == 2


def test_loso_mirrors_training_samples_as_the_cli_does(tmp_path):
    args = dict(model="dere-grl", epochs=2, folds="2", augment="flip")
    result = mer.loso(mer.Dataset.synthetic(subjects=4), out=str(tmp_path / "py"), **args)
    cli = cli_loso(tmp_path / "cli", "--synth-subjects", "4", "--model", "dere-grl", "--epochs",
                   "2", "--folds", "2", "--augment", "flip")
    assert result["summary"]["confusion"] == cli["confusion"]
    assert result["summary"]["uf1"] == cli["uf1"]
    assert result["summary"]["training"]["augment"] == "flip"
    with pytest.raises(mer.ConfigError, match="augment"):
        mer.loso(mer.Dataset.synthetic(subjects=4), out=str(tmp_path / "bad"), augment="rotate")


def test_a_checkpoint_is_a_model_callable_on_a_batch(tmp_path):
    ds = mer.Dataset.synthetic(subjects=4)
    result = mer.loso(ds, model="ststnet", epochs=2, folds="1", out=str(tmp_path / "run"))
    fold = result["predictions"]["fold"][0]
    model = mer.load_checkpoint(str(tmp_path / "run" / "folds" / fold.replace("/", "__") / "model.pt"))
    assert model.name == "ststnet" and model.class_names == ds.class_names
    test = [i for i, s in enumerate(ds.subjects) if s == fold]
    logits = model(ds.flows[test])
    assert logits.shape == (len(test), len(ds.class_names))
    probabilities = model.probabilities(ds.flows[test])
    recorded = torch.tensor([result["predictions"]["p_" + c] for c in ds.class_names]).T
    assert torch.allclose(probabilities, recorded.float(), atol=1e-5)
    assert model.state_dict and all(isinstance(t, torch.Tensor) for t in model.state_dict.values())
    with pytest.raises(ValueError, match="14x14|28x28"):
        model(torch.zeros(1, 3, 14, 14))


def readme_python_blocks():
    text = (SOURCE_DIR / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_readme_python_example_runs_as_written(tmp_path):
    blocks = readme_python_blocks()
    assert blocks, "README.md has no ```python block"
    for block in blocks:
        if "../shared/" in block and not SHARED_DATA.is_dir():
            continue
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            os.path.abspath(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)
        subprocess.run([os.sys.executable, "-c", block], check=True, cwd=tmp_path, env=env)


@pytest.mark.skipif(not (SHARED_DATA / "casme2").is_dir(),
                    reason="RealData: needs the CASME II frames in ../shared/data")
def test_real_data_predict_on_a_clip(tmp_path):
    mer.loso(None, model="ststnet", epochs=1, folds="1", out=str(tmp_path / "run"))
    clip = SHARED_DATA / "casme2" / "frames" / "sub01" / "EP02_01f"
    frames = sorted(p for p in clip.iterdir())
    numbers = [int(re.findall(r"\d+", p.stem)[-1]) for p in frames]
    out = mer.predict(clip=str(clip), onset=numbers[0], apex=numbers[1],
                      run=str(tmp_path / "run"))
    assert out["prediction"] in out["class_names"]
    assert abs(sum(out["probabilities"].values()) - 1) < 1e-4
