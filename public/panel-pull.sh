#!/usr/bin/env bash
# Pulls the latest backup from the panel as a dated .tar and keeps the last $KEEP of them.
# Settings come from the environment, or from a file only you can read (chmod 600), one
# NAME=value per line (no quotes); the environment wins:
#   PANEL_URL=https://panel.example.com
#   PANEL_API_KEY=pk_...                (Backups > Access > API keys)
#   PANEL_BACKUP_TOKEN=bt_...           (Backups > Access > Backup token)
#   PANEL_DESTINATION=3                 (only when your backups go to several destinations)
#   BACKUP_DIR=/var/backups/panel       (default: the current directory)
#   KEEP=7                              (how many .tar files to keep)
# Cron, daily at 04:30:  30 4 * * *  /usr/local/bin/panel-pull >>/var/log/panel-pull.log 2>&1
set -euo pipefail

config=${PANEL_PULL_CONFIG:-$HOME/.config/panel-pull.env}
if [ -f "$config" ]; then
  if [ -n "$(find "$config" -perm /077)" ]; then
    echo "panel-pull: $config is readable by others; run: chmod 600 $config" >&2
    exit 1
  fi
  while IFS='=' read -r name value; do
    case "$name" in
      PANEL_URL | PANEL_API_KEY | PANEL_BACKUP_TOKEN | PANEL_DESTINATION | BACKUP_DIR | KEEP)
        if [ -z "${!name:-}" ]; then printf -v "$name" '%s' "$value"; fi ;;
    esac
  done <"$config"
fi
: "${PANEL_URL:?set PANEL_URL, e.g. https://panel.example.com}"
: "${PANEL_API_KEY:?set PANEL_API_KEY (Backups > Access)}"
: "${PANEL_BACKUP_TOKEN:?set PANEL_BACKUP_TOKEN (Backups > Access)}"
dir=${BACKUP_DIR:-.}
keep=${KEEP:-7}
case "$keep" in "" | *[!0-9]*) echo "panel-pull: KEEP must be a whole number" >&2; exit 1 ;; esac
mkdir -p "$dir"

out="$dir/backup-$(date -u +%Y-%m-%dT%H%M%SZ).tar"
part="$out.part"
trap 'rm -f "$part"' EXIT
query=${PANEL_DESTINATION:+?destination=$PANEL_DESTINATION}
# Secrets go to curl on stdin (--config -), never on its command line where `ps` shows them.
status=$(curl --silent --show-error --output "$part" --write-out '%{http_code}' --config - <<CURL
url = "${PANEL_URL%/}/api/v1/snapshots/latest/download$query"
header = "Authorization: Bearer $PANEL_API_KEY"
header = "X-Backup-Token: $PANEL_BACKUP_TOKEN"
CURL
)
if [ "$status" != 200 ]; then
  message=$(sed -n 's/.*"message":"\([^"]*\)".*/\1/p' "$part" 2>/dev/null || true)
  echo "panel-pull: HTTP $status: ${message:-no answer from $PANEL_URL}" >&2
  exit 1
fi
tar -tf "$part" >/dev/null # a cut-off download is not a backup
mv "$part" "$out"
echo "panel-pull: saved $out ($(du -h "$out" | cut -f1))"

shopt -s nullglob
files=("$dir"/backup-*.tar) # oldest first: the names sort by date
for ((i = 0; i < ${#files[@]} - keep; i++)); do rm -f -- "${files[i]}"; done
