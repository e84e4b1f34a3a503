"""The headless runner reports cell progress, forwards the kernel's progress bars and stderr, and is quiet
about the kernel's transport."""
import json

import nbformat

from mmgen_core.notebooks import run_notebook

CELLS = [
    'PROFILE = "smoke"\nOVERRIDES = {}',
    "import sys\n"
    "from tqdm.auto import tqdm  # a widget bar in a kernel, as the library's long steps use\n"
    "for _ in tqdm(range(3), desc='auto-bar'):\n    pass\n"
    "from tqdm.std import tqdm as text_tqdm  # a text bar on stderr\n"
    "for _ in text_tqdm(range(3), desc='text-bar', file=sys.stderr):\n    pass",
    "print('plain cell output')",
]


def _notebook(path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)
    return path


def test_run_notebook_reports_progress_without_transport_noise(tmp_path, capfd):
    src, dst = _notebook(tmp_path / "01_demo.ipynb"), tmp_path / "out" / "01_demo.ipynb"
    dst.parent.mkdir()
    seconds = run_notebook(src, dst, {"PROFILE": "tiny", "OVERRIDES": {}})
    out, err = capfd.readouterr()  # fd level: the kernel process's own stderr is in err
    assert seconds > 0
    for k in (1, 2, 3):  # papermill's injected-parameters cell is not counted
        assert f"[mmgen] 01_demo.ipynb (tiny) cell {k}/3 done in" in out
    assert "[mmgen] 01_demo.ipynb (tiny) done in" in out
    lines = out.splitlines()
    assert any("auto-bar: 100%" in ln and "3/3" in ln for ln in lines), out  # widget bar, as text
    assert any("text-bar: 100%" in ln and "3/3" in ln for ln in lines), out  # stderr bar, collapsed
    assert not any("\r" in ln for ln in lines)  # a log gets whole lines, not carriage-return redraws
    assert "plain cell output" not in out + err  # ordinary cell output stays in the notebook
    assert "transport" not in (out + err).lower() and "tcp" not in (out + err).lower(), err
    nb = json.loads(dst.read_text())
    assert 'PROFILE = "tiny"' in "".join(nb["cells"][1]["source"])
    assert "plain cell output" in "".join(nb["cells"][-1]["outputs"][0]["text"])
