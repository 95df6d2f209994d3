"""``gnnkit datasets`` and ``gnnkit info NAME``: output, and one-line errors with exit status 2."""

import json
import subprocess
import sys

from gnnkit.cli import main


def test_datasets_lists_registry_and_status(shared_datasets, capsys):
    assert main(["datasets", "--root", str(shared_datasets)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip() and not line.startswith(("19 ", "\n"))}
    assert lines["Cora"][-1] == "found" and lines["KarateClub"][-1] == "embedded"
    assert lines["PubMed"][-2:] == ["not", "found"]
    assert "MUTAG" in lines and "IMDB-BINARY" in lines and "cora_npz" in lines
    assert main(["datasets", "--root", str(shared_datasets), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["datasets"]
    status = {r["name"]: r["status"] for r in rows}
    assert status["DD"] == "found" and status["AmazonPhoto"] == "not found"


def test_info_prints_statistics(shared_datasets, capsys):
    assert main(["info", "cora", "--root", str(shared_datasets), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["num_nodes"], info["num_edges"], info["num_features"], info["num_classes"]) == (2708, 10556, 1433, 7)
    assert main(["info", "ENZYMES", "--root", str(shared_datasets), "--use-node-attr"]) == 0
    out = capsys.readouterr().out
    assert "num_graphs" in out and "600" in out and "21" in out
    assert main(["info", "KarateClub"]) == 0
    assert "17 / 17" in capsys.readouterr().out


def test_info_errors_are_one_line(shared_datasets, tmp_path, capsys):
    assert main(["info", "NoSuchSet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gnnkit info: error: unknown dataset 'NoSuchSet'") and "\n" not in err
    assert main(["info", "PubMed", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "ind.pubmed.allx" in err and "\n" not in err
    assert main(["info", "Cora", "--use-node-attr", "--root", str(shared_datasets)]) == 2
    assert "--use-node-attr applies to TU" in capsys.readouterr().err
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    assert main(["datasets", "--root", str(not_a_folder)]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_console_entry_point(shared_datasets):
    done = subprocess.run(
        [sys.executable, "-m", "gnnkit", "info", "mutag", "--root", str(shared_datasets)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "188" in done.stdout and "63 / 125" in done.stdout
