# mysql-test-run suite "awss3" — the AWSS3 storage engine's SQL-level tests.
#
# Run it with scripts/test.sh (make test): that starts a moto S3 server, sets the
# environment below, links this directory into MTR's plugin suite dir and runs
#   mariadb-test-run --suite=awss3
# Environment (read here and by suite.opt / the tests):
#   AWSS3_PLUGIN_DIR  directory holding ha_awss3.so        (test.sh: <repo>/build)
#   AWSS3_ENDPOINT    S3 endpoint URL, e.g. http://127.0.0.1:PORT (test.sh: moto)
#   AWSS3_S3TOOL      path of scripts/s3tool.py; tests run `python3 $AWSS3_S3TOOL ...`
#   AWSS3_OPT_PREFIX  optional, prefixed to the awss3-* server options in suite.opt.
#                     Leave unset (a misspelt or unknown option must stop the server).
#                     Set to "loose-" only to run the harness with another engine
#                     library standing in for ha_awss3.so.
# suite.opt cannot hold comments (MTR splits it into arguments), hence this note here.
package My::Suite::AWSS3;
@ISA = qw(My::Suite);

for my $v (qw(AWSS3_PLUGIN_DIR AWSS3_ENDPOINT AWSS3_S3TOOL)) {
  return "$v is not set (run the suite through scripts/test.sh)" unless $ENV{$v};
}
return "No ha_awss3.so in AWSS3_PLUGIN_DIR=$ENV{AWSS3_PLUGIN_DIR} (build the plugin first)"
  unless -f "$ENV{AWSS3_PLUGIN_DIR}/ha_awss3.so";
return "Not run for the embedded server" if $::opt_embedded_server;

# The distro server is "stable" and says so of every gamma plugin it loads.
push @::global_suppressions, qr/Plugin 'AWSS3' is of maturity level gamma/;

bless { };
