#!/usr/bin/env bash
# The whole demonstration on one machine: the provider on http://127.0.0.1:5000, the
# demo ENT "L'Educ de Normandie" on http://127.0.0.1:8765, and a mail server on
# 127.0.0.1:8025 that keeps every email for the ENT's page /boite-mail ("Boîte mail de
# démonstration"). Ctrl-C stops them all.
#
#   examples/demo.sh
#
# SQLite by default (instance/demo.sqlite3); set IDP_DATABASE_URL for another database.
# The letters of the demo class are written beside the database (instance/demo-lettres.pdf).
set -euo pipefail
cd "$(dirname "$0")/.."

export IDP_ISSUER=http://127.0.0.1:5000
export IDP_DATABASE_URL="${IDP_DATABASE_URL:-sqlite:///demo.sqlite3}"
export ENT_ISSUER="$IDP_ISSUER"
export ENT_BASE_URL=http://127.0.0.1:8765
# The pages and the letters offer the demo ENT, never the real one: no link leaves the demo.
export IDP_ENT_URL="$ENT_BASE_URL/"
# Every email goes to the demo's mail server, which keeps them in this folder.
export IDP_MAIL_SERVER=127.0.0.1 IDP_MAIL_PORT="${DEMO_MAIL_PORT:-8025}" IDP_MAIL_USE_TLS=0 IDP_MAIL_USE_SSL=0
export IDP_MAIL_USERNAME= IDP_MAIL_PASSWORD=
# The demo ENT's back-channel logout URI is plain http on loopback.
export IDP_LOGOUT_ALLOW_LOOPBACK_HTTP=1
export ENT_LOGOUTS_DB="$PWD/instance/demo-ent-logouts.sqlite3"
mkdir -p instance
export ENT_MAILBOX_DIR="$PWD/instance/demo-mail"
# The ENT's directory (its pupils and their guardians, as the académie's directory feed would
# give them), written by the seed: the ENT recognises a family by FrEduVecteur in it.
export ENT_DIRECTORY="$PWD/instance/demo-ent-annuaire.json"

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q -e '.[test]'
.venv/bin/pybabel -q compile -d idp/translations
.venv/bin/idp db upgrade

seeded="$(.venv/bin/python examples/seed_demo.py)"
{ read -r ENT_CLIENT_ID; read -r ENT_CLIENT_SECRET; notes="$(cat)"; } <<<"$seeded"
export ENT_CLIENT_ID ENT_CLIENT_SECRET
# One key for every ENT worker, so that any of them reads the session cookie.
export ENT_SECRET_KEY="${ENT_SECRET_KEY:-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(32))')}"

stop() {
    trap - EXIT INT TERM
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
}
pids=()
trap stop EXIT
trap 'exit 130' INT TERM
# Servers in their own process groups: Ctrl-C reaches this script only, which stops them.
set -m

.venv/bin/python examples/smtp_catcher.py "$ENT_MAILBOX_DIR" --port "$IDP_MAIL_PORT" &
pids+=($!)
.venv/bin/gunicorn --bind 127.0.0.1:5000 --workers 2 --log-level warning --no-control-socket wsgi:app &
pids+=($!)
.venv/bin/gunicorn --bind 127.0.0.1:8765 --workers 2 --log-level warning --no-control-socket --pythonpath examples/ent 'app:create_app()' &
pids+=($!)

wait_until_up() {  # URL PID
    for _ in $(seq 100); do
        if ! kill -0 "$2" 2>/dev/null; then
            echo "Échec du démarrage du serveur de $1 (port déjà pris ?)" >&2
            exit 1
        fi
        if .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null; then
            return
        fi
        sleep 0.2
    done
    echo "$1 ne répond pas." >&2
    exit 1
}
wait_until_up "$IDP_ISSUER/.well-known/openid-configuration" "${pids[1]}"
wait_until_up "$ENT_BASE_URL/" "${pids[2]}"
if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "Échec du démarrage du serveur de courrier sur le port $IDP_MAIL_PORT (port déjà pris ?)" >&2
    exit 1
fi

cat <<MESSAGE

  Démonstration prête.
    ENT « L'Educ de Normandie »   : $ENT_BASE_URL/
    Téléservices (fournisseur)    : $IDP_ISSUER/
    Boîte mail de démonstration   : $ENT_BASE_URL/boite-mail   (tous les courriers envoyés arrivent ici)

  Comptes de démonstration (« SE CONNECTER », puis « Élève ou parent de l'enseignement public ») :
    parent : identifiant jean.dupont1   mot de passe S3cret-pass    (enfant : Alice Dupont)
    élève  : identifiant lucas.martin1  mot de passe Cartable-2024

$notes
    Chaque lettre donne un identifiant et un mot de passe provisoire : connectez-vous à l'ENT avec,
    remplissez la « Première connexion », puis ouvrez le lien d'activation dans la boîte mail.

  Ctrl-C arrête les serveurs.

MESSAGE

wait -n "${pids[@]}"
echo "Un des serveurs s'est arrêté ; arrêt de la démonstration." >&2
exit 1
