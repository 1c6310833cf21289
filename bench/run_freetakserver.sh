#!/bin/sh
# FreeTAKServer 2.2.1 for bench/tak_gateway.py --part fts: in a virtualenv of its own (its pins clash
# with Rampart's), with every path it writes under one directory instead of /opt/fts, on the default
# ports (CoT 8087 TCP and 8089 TLS; also 8080, 8443, 19023, 19030-19032).
#   sh bench/run_freetakserver.sh [DIR]          # DIR defaults to /tmp/fts; Ctrl-C stops it
set -e
DIR=${1:-/tmp/fts}
if [ ! -x "$DIR/venv/bin/python" ]; then
    python3 -m venv "$DIR/venv"
    "$DIR/venv/bin/pip" install -q FreeTAKServer==2.2.1 opentelemetry-sdk==1.27.0 opentelemetry-api==1.27.0
fi
D=$DIR/data
C=$D/certs
mkdir -p "$D"
export FTS_PERSISTENCE_PATH=$D FTS_MAINPATH=$("$DIR/venv/bin/python" -c 'import FreeTAKServer, os; print(os.path.dirname(FreeTAKServer.__file__))')
export FTS_DB_PATH=$D/FTSDataBase.db FTS_LOGFILE_PATH=$D/logs FTS_DATAPACKAGE_PATH=$D/dp FTS_CONFIG_PATH=$D/FTSConfig.yaml
export FTS_CERTS_PATH=$C FTS_CLIENT_PACKAGES_PATH=$D/clientpackages FTS_EXCHECK_PATH=$D/excheck
export FTS_EXCHECK_TEMPLATE_PATH=$D/excheck/template FTS_EXCHECK_CHECKLIST_PATH=$D/excheck/checklist
export FTS_SERVER_KEYDIR=$C/server.key FTS_SERVER_PEMDIR=$C/server.pem FTS_TESTCLIENT_PEMDIR=$C/server.pem
export FTS_TESTCLIENT_KEYDIR=$C/server.key FTS_UNENCRYPTED_KEYDIR=$C/server.key.unencrypted FTS_SERVER_P12DIR=$C/server.p12
export FTS_CADIR=$C/ca.pem FTS_CAKEYDIR=$C/ca.key FTS_FEDERATION_CERTDIR=$C/server.pem FTS_FEDERATION_KEYDIR=$C/server.key
export FTS_CRLDIR=$C/FTS_CRL.json
# With CoT saved to its database, a client connecting under a uid the database already holds is dropped.
export FTS_COT_TO_DB=False FTS_FIRST_START=false FTS_NUM_ROUTING_WORKERS=1
export FTS_DP_ADDRESS=127.0.0.1 FTS_USER_ADDRESS=127.0.0.1 FTS_API_ADDRESS=127.0.0.1
exec "$DIR/venv/bin/python" -m FreeTAKServer.controllers.services.FTS -DataPackageIP 127.0.0.1 -AutoStart True
