# Sourced by .ci/run: a throwaway PostgreSQL cluster for the tests.
# Installs Debian's postgresql package when needed, runs initdb in a
# temporary directory as an unprivileged user (nobody), listens on
# 127.0.0.1 on a random free port with password (scram) authentication,
# exports PCSYNC_TEST_POSTGRES, and stops and removes the cluster when the
# calling shell exits, also on failure (trap).

pg_bin() {
	ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

if [ -z "$(pg_bin)" ]; then
	apt_install postgresql
fi
PGBIN="$(pg_bin)"
PGTMP="$(mktemp -d /tmp/pcsync-pg.XXXXXX)"
chmod 755 "$PGTMP"
PGUSER_OS=nobody
PGPASS_CI="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
printf '%s\n' "$PGPASS_CI" >"$PGTMP/pw"
chown -R "$PGUSER_OS" "$PGTMP"
PGPORT_CI="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

stop_postgres() {
	su -s /bin/sh "$PGUSER_OS" -c "'$PGBIN/pg_ctl' -D '$PGTMP/data' -m immediate stop" >/dev/null 2>&1 || true
	rm -rf "$PGTMP"
}
trap stop_postgres EXIT

su -s /bin/sh "$PGUSER_OS" -c "'$PGBIN/initdb' -D '$PGTMP/data' -U pcsync --pwfile='$PGTMP/pw' --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8" >/dev/null
su -s /bin/sh "$PGUSER_OS" -c "'$PGBIN/pg_ctl' -D '$PGTMP/data' -l '$PGTMP/log' -w -o \"-c listen_addresses=127.0.0.1 -c port=$PGPORT_CI -c unix_socket_directories='$PGTMP' -c max_connections=300\" start" >/dev/null
rm -f "$PGTMP/pw"
export PCSYNC_TEST_POSTGRES="postgres://pcsync:$PGPASS_CI@127.0.0.1:$PGPORT_CI/postgres?sslmode=disable"
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT_CI for the tests"
