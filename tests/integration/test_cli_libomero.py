"""libomero as an installed library: a program built only with `pkg-config --cflags --libs omero`
against a `make install` tree logs in, calls a service and logs out (against the HTTPS test
server) through the shared library.

omero.h exposes jansson's json_t, so a program also links jansson; omero.pc lists jansson only in
Requires.private today, hence the explicit -ljansson below."""
import os
import subprocess

import pytest

from cli_fake_server import FakeServer

PROGRAM = r"""
#include <omero.h>
#include <stdio.h>

int
main (int argc, char **argv)
{
    omero_err_t err = {0};
    omero_client_t *c = omero_client_new (argv[1], atoi (argv[2]), &err);
    if (!c || omero_client_login (c, "root", argv[3], NULL, &err) < 0) {
        printf ("%s: %s\n", err.name, err.msg);
        omero_client_destroy (&c);
        return 1;
    }
    json_t *ec = omero_client_event_context (c, &err);
    char buf[64];
    printf ("%s %s %s\n", omero_version (), omero_json_text (ec, "userName", buf, sizeof buf, "?"),
            omero_client_session (c) ? "key" : "nokey");
    json_decref (ec);
    int rc = omero_client_logout (c, &err);
    omero_client_destroy (&c);
    return rc < 0;
}
"""


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    srv = FakeServer(str(tmp_path_factory.mktemp("certs")))
    yield srv
    srv.stop()


def test_installed_library_builds_and_runs(installation, fake, tmp_path):
    pc = os.path.join(installation, "lib", "pkgconfig")
    assert os.path.exists(os.path.join(pc, "omero.pc"))
    assert os.path.exists(os.path.join(installation, "include", "omero", "omero.h"))
    env = dict(os.environ, PKG_CONFIG_PATH=pc)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "omero"], env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    src = tmp_path / "prog.c"
    src.write_text("#include <stdlib.h>\n" + PROGRAM)
    exe = str(tmp_path / "prog")
    # A sanitizer build of libomero needs its runtime in the program too.
    san = ["-fsanitize=address,undefined"] if os.environ.get("OMERO_SAN") else []
    r = subprocess.run(["cc", "-std=gnu11", "-Wall", "-Werror"] + san + ["-o", exe, str(src)] + flags + ["-ljansson"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    run_env = dict(os.environ, OMERO_CA=fake.cert, LD_LIBRARY_PATH=os.path.join(installation, "lib"))
    r = subprocess.run([exe, "127.0.0.1", str(fake.port), "omero"], env=run_env, capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout == "5.6.10 root key\n"
    r = subprocess.run([exe, "127.0.0.1", str(fake.port), "wrong"], env=run_env, capture_output=True, text=True)
    assert r.returncode == 1 and r.stdout.startswith("PermissionDeniedException: ")
    # The shared library names libomero.so.0.
    ldd = subprocess.run(["ldd", exe], env=run_env, capture_output=True, text=True).stdout
    assert os.path.join(installation, "lib", "libomero.so.0") in ldd
