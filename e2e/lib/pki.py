# SPDX-License-Identifier: GPL-2.0-or-later
"""The e2e cluster's certificates, made at start-up with openssl(1):
one CA, a serving certificate per server, a client certificate per identity
(the CN is the user, O the groups, as Kubernetes reads them)."""
import os
import subprocess


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30",
             "-subj", "/CN=ferry-e2e-ca", cwd=d)


def make_cert(d, name, cn, orgs=(), sans=(), server=False):
    """Issue name.crt/name.key signed by the CA in d."""
    subj = "/CN=" + cn + "".join("/O=" + o for o in orgs)
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", subj, cwd=d)
    ext = ["basicConstraints=critical,CA:FALSE",
           "keyUsage=critical,digitalSignature,keyEncipherment",
           "extendedKeyUsage=" + ("serverAuth,clientAuth" if server else "clientAuth")]
    if sans:
        ext.append("subjectAltName=" + ",".join(
            ("IP:" if s[0].isdigit() or ":" in s else "DNS:") + s for s in sans))
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("\n".join(ext) + "\n")
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "30", "-out", name + ".crt",
             "-extfile", name + ".ext", cwd=d)
    os.remove(os.path.join(d, name + ".csr"))
    os.remove(os.path.join(d, name + ".ext"))


def make_sa_keys(d):
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)


def kubeconfig(path, server, ca, cert=None, key=None, token_file=None, user="user"):
    """Write a kubeconfig that names files (no embedded data)."""
    u = []
    if cert:
        u += ["    client-certificate: " + cert, "    client-key: " + key]
    if token_file:
        u += ["    tokenFile: " + token_file]
    text = "\n".join([
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: e2e",
        "  cluster:",
        "    server: " + server,
        "    certificate-authority: " + ca,
        "users:",
        "- name: " + user,
        "  user:",
        *u,
        "contexts:",
        "- name: e2e",
        "  context:",
        "    cluster: e2e",
        "    user: " + user,
        "current-context: e2e",
        ""])
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
