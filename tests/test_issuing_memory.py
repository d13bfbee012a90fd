"""An issue's memory depends on the number of letters per file, not on the establishment's
size: the letters of five times more accounts, issued by the command line in files of the
same size, take about the same peak (tracemalloc, this process's Python allocations)."""

import tracemalloc
from datetime import date

from idp.extensions import db
from idp.models import Establishment, LegalGuardian, Pupil


def seed(app, pupils, first):
    """`pupils` pupils from number `first` on, in classes of 25, each with one legal guardian
    (two accounts per pupil)."""
    with app.app_context():
        establishment = db.session.scalar(db.select(Establishment))
        rows = [
            {
                "given_name": "Léa",
                "family_name": f"Nom{number}",
                "birth_date": date(2012, 1, 1),
                "establishment_id": establishment.id,
                "school_key": f"K{number}",
                "class_name": f"6{number // 25:03}",
            }
            for number in range(first, first + pupils)
        ]
        ids = db.session.scalars(Pupil.__table__.insert().returning(Pupil.id), rows).all()
        guardians = [{"pupil_id": pupil_id, "rank": 1, "given_name": "Paul", "family_name": f"Parent{pupil_id}"} for pupil_id in ids]
        db.session.execute(LegalGuardian.__table__.insert(), guardians)
        db.session.commit()


def peak_of_issue(app, tmp_path, name):
    runner = app.test_cli_runner()
    tracemalloc.start()
    try:
        result = runner.invoke(args=["accounts", "issue", "--establishment", "0140001A", "--letters", str(tmp_path / name)])
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.output
    return peak


def test_the_memory_of_an_issue_does_not_grow_with_the_establishment(app, establishment, tmp_path):
    app.config["LETTERS_PER_FILE"] = 100
    # Fonts and caches loaded once, outside the measure.
    seed(app, 25, 0)
    peak_of_issue(app, tmp_path, "warm.pdf")
    seed(app, 50, 1000)
    small = peak_of_issue(app, tmp_path, "small.pdf")  # 100 accounts
    seed(app, 250, 2000)
    large = peak_of_issue(app, tmp_path, "large.pdf")  # 500 accounts
    # All in one file, the 400 more letters would take about 10 MiB more (some 24 KiB each).
    assert large < small + 2 * 2**20, (small / 2**20, large / 2**20)
    assert len(list(tmp_path.glob("large*.pdf"))) == 5
