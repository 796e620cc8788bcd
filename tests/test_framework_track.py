"""The framework track (exercises 02 -> 03 -> 04 -> 05 -> 07 -> 12): code flows from one
assignment to the next in *carried* cells (metadata.nbkit.carry in the source notebook), plain
editable cells holding the course's solution of earlier parts, so that a student whose earlier
part failed can still do the later ones. A carried cell must be exactly the solution code of the
cells it names (else fixing a solution would leave stale copies behind), and the released
exercise must ship it unchanged."""

from pathlib import Path

import pytest

from nbkit.grading.notebooks import (
    BEGIN_SOLUTION,
    END_SOLUTION,
    grade_id,
    read_notebook,
    release_path,
    solution_path,
)

REPO = Path(__file__).resolve().parents[1]
TRACK = ["02_activations", "03_linear_layer", "04_softmax_cross_entropy", "05_mlp_backprop",
         "07_gradient_checking", "12_train_digits"]


def carried_cells(assignment):
    nb = read_notebook(solution_path(REPO, assignment))
    return [c for c in nb.cells if "carry" in c.metadata.get("nbkit", {})]


def solution_code(assignment, grade_ids):
    cells = {grade_id(c): c for c in read_notebook(solution_path(REPO, assignment)).cells}
    return "\n\n\n".join(
        "\n".join(line for line in cells[g].source.split("\n")
                  if BEGIN_SOLUTION not in line and END_SOLUTION not in line)
        for g in grade_ids)


@pytest.mark.parametrize("assignment", TRACK[1:])
def test_each_later_part_carries_every_earlier_part(assignment):
    carried = [c.metadata["nbkit"]["carry"]["assignment"] for c in carried_cells(assignment)]
    # 03 and 04 stand alone (their modules use none of the earlier parts); from 05 on, every
    # earlier part is carried
    earlier = TRACK[:TRACK.index(assignment)] if assignment >= "05" else []
    assert carried == earlier


@pytest.mark.parametrize("assignment", TRACK)
def test_carried_cells_are_the_solutions_they_name(assignment):
    for cell in carried_cells(assignment):
        carry = cell.metadata["nbkit"]["carry"]
        assert carry["assignment"] in TRACK[:TRACK.index(assignment)]
        lines = cell.source.split("\n")
        start = next(i for i, line in enumerate(lines) if not line.startswith("#"))
        assert "Carried over from exercise " + carry["assignment"][:2] in lines[0]
        code = "\n".join(lines[start:])
        assert code == solution_code(carry["assignment"], carry["cells"]), (
            f"{assignment}: the cell carried from {carry['assignment']} is out of date "
            "(rebuild the notebook from its build script)")
        assert BEGIN_SOLUTION not in cell.source


@pytest.mark.parametrize("assignment", TRACK[1:])
def test_released_exercises_ship_the_carried_code(assignment):
    released = [c.source for c in read_notebook(release_path(REPO, assignment)).cells]
    for cell in carried_cells(assignment):
        assert cell.source in released
