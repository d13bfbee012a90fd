"""`idp pupils import`: the school's files from the command line, as on the upload page."""

import json
from pathlib import Path

import click
from flask.cli import AppGroup
from flask_babel import gettext as _

from ..errors import InvalidInput
from ..extensions import db
from .establishments import find_establishment
from .imports import ImportRefused, import_files

pupils = AppGroup("pupils", help="Élèves et responsables légaux.")


@pupils.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--establishment", "uai", required=True, help="UAI de l'établissement.")
@click.option("--full", "complete", is_flag=True, help="Fichier complet : les élèves absents sont partis.")
@click.option("--json", "as_json", is_flag=True)
def pupils_import(paths, uai, complete, as_json):
    """Importer un CSV ou des exports SIECLE."""
    try:
        establishment = find_establishment(uai)
    except InvalidInput as error:
        raise click.ClickException(str(error)) from None
    if establishment is None:
        raise click.ClickException(_("Établissement inconnu : %(uai)s (voir idp establishment add).", uai=uai))
    files = [(path.name, path) for path in paths]  # read as they are imported, never whole
    progress = None if as_json else (lambda message: click.echo(message, err=True))
    try:
        result = import_files(establishment, files, complete=complete, progress=progress)
    except ImportRefused as refused:
        db.session.rollback()
        if as_json:
            click.echo(json.dumps({"problems": [problem.as_dict() for problem in refused.problems]}, ensure_ascii=False))
        else:
            for problem in refused.problems:
                click.echo(str(problem), err=True)
            click.echo(_("Fichier refusé : rien n'a été importé (%(count)s problème(s)).", count=len(refused.problems)), err=True)
        click.get_current_context().exit(1)
    db.session.commit()
    counts = result.counts
    if as_json:
        click.echo(json.dumps(counts))
        return
    click.echo(
        _(
            "Import terminé. Élèves : %(pupils_created)s créés, %(pupils_updated)s mis à jour, %(pupils_unchanged)s inchangés,"
            " %(pupils_left)s partis. Responsables légaux : %(guardians_created)s créés, %(guardians_updated)s mis à jour,"
            " %(guardians_removed)s retirés.",
            **counts,
        )
    )
