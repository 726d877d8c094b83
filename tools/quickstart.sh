#!/bin/sh
# The README's quick start: install what is missing, build, install to ./dist, start a grid with
# the embedded PostgreSQL, and say how to log in.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
./tools/deps.sh
make -j"$(nproc)"
make -s install PREFIX="$top/dist"
export OMERODIR="$top/dist"
if [ ! -f "$OMERODIR/etc/grid/config.yaml" ] || ! grep -q omero.data.dir "$OMERODIR/etc/grid/config.yaml"; then
    "$OMERODIR/bin/omero" config set omero.data.dir "$OMERODIR/data"
fi
if "$OMERODIR/bin/omero" admin status >/dev/null 2>&1; then
    echo "OMERO.grid is already running."
else
    "$OMERODIR/bin/omero" admin start
fi
port=$("$OMERODIR/bin/omero" admin diagnostics | sed -n 's/^OMERO SSL port://p')
cat <<MSG

OMERO is running (OMERODIR=$OMERODIR).
Log in as root with the password stored in $OMERODIR/var/master/root_password
(unless you set omero.db.root_pass before the first start):

    export OMERODIR=$OMERODIR
    \$OMERODIR/bin/omero login -s localhost -p $port -u root -w "\$(cat $OMERODIR/var/master/root_password)"

HTTPS clients: https://localhost:$port/ (CA certificate: $OMERODIR/etc/certs/ca.pem).
Stop with: \$OMERODIR/bin/omero admin stop
MSG
