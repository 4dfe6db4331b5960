#!/usr/bin/env python3
"""Tests the Helm chart: helm lint and helm template with each values file of ci/, assertions on what they
render, and the settings the chart must refuse. Usage: test_chart.py HELM"""
import base64
import os
import subprocess
import sys

import yaml

helm = sys.argv[1]
chart = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wharf")


def values(name):
    return os.path.join(chart, "ci", name)


def render(*args):
    out = subprocess.run([helm, "template", "r", chart, *args], check=True, capture_output=True, text=True).stdout
    objs = {}
    for doc in yaml.safe_load_all(out):
        if doc:
            objs[(doc["kind"], doc["metadata"]["name"])] = doc
    return objs


def refused(*args, says):
    p = subprocess.run([helm, "template", "r", chart, *args], capture_output=True, text=True)
    assert p.returncode != 0, f"helm template {args} rendered"
    assert says in p.stderr, f"helm template {args}: {p.stderr!r} does not say {says!r}"


def container(objs):
    return objs[("Deployment", "r-wharf")]["spec"]["template"]["spec"]["containers"][0]


def env(objs):
    return {e["name"]: e for e in container(objs)["env"]}


def secret_ref(e):
    ref = e["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def common(objs):
    """What every rendering holds: a non-root pod with a read-only root, probes on /healthz, resources."""
    pod = objs[("Deployment", "r-wharf")]["spec"]["template"]["spec"]
    c = container(objs)
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/healthz" and c[probe]["httpGet"]["port"] == "http", probe
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert c["ports"][0]["containerPort"] == 5000
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts["/var/lib/wharf"] == "data" and mounts["/tmp"] == "tmp"
    e = env(objs)
    assert e["WHARF_ADDR"]["value"] == ":5000" and e["WHARF_DATA_DIR"]["value"] == "/var/lib/wharf"
    svc = objs[("Service", "r-wharf")]
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    return pod, c, e


subprocess.run([helm, "lint", "--strict", chart], check=True, capture_output=True)
for f in sorted(os.listdir(os.path.join(chart, "ci"))):
    subprocess.run([helm, "lint", "--strict", chart, "-f", values(f)], check=True, capture_output=True)

# Defaults: one replica on a volume, Recreate, no PDB, no secret (server.key on the volume).
objs = render()
pod, c, e = common(objs)
dep = objs[("Deployment", "r-wharf")]
assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
assert objs[("PersistentVolumeClaim", "r-wharf-data")]["spec"]["resources"]["requests"]["storage"] == "50Gi"
vols = {v["name"]: v for v in pod["volumes"]}
assert vols["data"]["persistentVolumeClaim"]["claimName"] == "r-wharf-data"
assert not any(k[0] in ("PodDisruptionBudget", "Secret", "Ingress") for k in objs), list(objs)
assert "WHARF_METADATA" not in e and "WHARF_BLOBS" not in e and "WHARF_SERVER_SECRET" not in e

# Embedded behind an ingress with TLS: the public URL follows the ingress.
objs = render("-f", values("embedded-values.yaml"))
_, _, e = common(objs)
ing = objs[("Ingress", "r-wharf")]
assert ing["spec"]["tls"][0]["secretName"] == "registry-example-com-tls"
assert ing["spec"]["tls"][0]["hosts"] == ["registry.example.com"]
assert ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] == {"name": "r-wharf", "port": {"name": "http"}}
assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"
assert e["WHARF_PUBLIC_URL"]["value"] == "https://registry.example.com"
assert objs[("PersistentVolumeClaim", "r-wharf-data")]["spec"]["storageClassName"] == "fast-ssd"

# Shared: three replicas, rolling, a PDB, everything secret from Secrets, the server secret made here.
objs = render("-f", values("shared-values.yaml"))
pod, c, e = common(objs)
dep = objs[("Deployment", "r-wharf")]
assert dep["spec"]["replicas"] == 3 and dep["spec"]["strategy"]["type"] == "RollingUpdate"
assert objs[("PodDisruptionBudget", "r-wharf")]["spec"]["maxUnavailable"] == 1
assert objs[("PodDisruptionBudget", "r-wharf")]["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
assert ("PersistentVolumeClaim", "r-wharf-data") not in objs
assert "emptyDir" in {v["name"]: v for v in pod["volumes"]}["data"]
assert secret_ref(e["WHARF_METADATA"]) == ("wharf-postgres", "url")
assert e["WHARF_BLOBS"]["value"] == "s3://registry-blobs/prod/"
assert e["WHARF_S3_ENDPOINT"]["value"] == "https://minio.storage.svc:9000"
assert e["WHARF_S3_REGION"]["value"] == "eu-west-1" and e["WHARF_S3_FORCE_PATH_STYLE"]["value"] == "true"
assert secret_ref(e["AWS_ACCESS_KEY_ID"]) == ("wharf-s3", "AWS_ACCESS_KEY_ID")
assert secret_ref(e["AWS_SECRET_ACCESS_KEY"]) == ("wharf-s3", "AWS_SECRET_ACCESS_KEY")
assert secret_ref(e["WHARF_ADMIN_ACCESS_KEY_ID"]) == ("wharf-admin", "AWS_ACCESS_KEY_ID")
assert secret_ref(e["WHARF_SERVER_SECRET"]) == ("r-wharf-server-secret", "server-secret")
secret = objs[("Secret", "r-wharf-server-secret")]
value = base64.b64decode(secret["data"]["server-secret"])
assert len(base64.b64decode(value)) >= 32, "the generated server secret is under 32 bytes"
assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
assert e["WHARF_PUBLIC_URL"]["value"] == "https://registry.example.com"
assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
assert objs[("Ingress", "r-wharf")]["spec"]["tls"][0]["hosts"] == ["registry.example.com", "ecr.example.com"]

# Shared with an existing server secret, AWS credentials from the pod's role, TLS in Wharf.
objs = render("-f", values("shared-existing-secret-values.yaml"))
pod, c, e = common(objs)
assert objs[("Deployment", "r-wharf")]["spec"]["replicas"] == 2 and ("PodDisruptionBudget", "r-wharf") in objs
assert not any(k[0] == "Secret" for k in objs), "a Secret was made though one exists"
assert secret_ref(e["WHARF_SERVER_SECRET"]) == ("wharf-secrets", "server")
assert secret_ref(e["WHARF_METADATA"]) == ("wharf-db", "dsn")
assert e["WHARF_BLOBS"]["value"] == "s3://wharf-blobs/wharf/"
assert "AWS_ACCESS_KEY_ID" not in e and "WHARF_S3_ENDPOINT" not in e
assert e["WHARF_PUBLIC_URL"]["value"] == "https://123456789012.dkr.ecr.example.internal"
assert e["WHARF_TLS_CERT"]["value"] == "/etc/wharf/tls/tls.crt"
assert c["readinessProbe"]["httpGet"]["scheme"] == "HTTPS" and c["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
assert {v["name"]: v for v in pod["volumes"]}["tls"]["secret"]["secretName"] == "wharf-serving-cert"

# A server secret given as a value, in embedded mode: put in a Secret and referenced.
objs = render("--set", "serverSecret.value=c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==")
assert secret_ref(env(objs)["WHARF_SERVER_SECRET"]) == ("r-wharf-server-secret", "server-secret")
assert base64.b64decode(objs[("Secret", "r-wharf-server-secret")]["data"]["server-secret"]) == b"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="

# What the chart refuses.
refused("--set", "replicaCount=2", says="replicaCount > 1 needs storage.mode=shared")
refused("--set", "storage.mode=shared", "--set", "storage.s3.bucket=b", says="storage.postgres.existingSecret")
refused("--set", "storage.mode=shared", "--set", "storage.postgres.existingSecret=p", says="storage.s3.bucket")
refused("--set", "storage.mode=cluster", says='storage.mode "cluster"')
refused("--set", "ingress.enabled=true", says="ingress.hosts")

print("helm chart: lint and template checks passed")
