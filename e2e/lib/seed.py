# SPDX-License-Identifier: GPL-2.0-or-later
"""The seed walkthrough's application: the `myapp` Deployment (4 replicas of
the pod server, spread over the nodes) and its `myapp-svc` Service on port 80."""


def myapp(service_type="ClusterIP", spread="DoNotSchedule"):
    """`spread`: ScheduleAnyway lets the pods of a cordoned node come back
    on the others (the walkthrough's scenario 4 does that)."""
    return """
apiVersion: apps/v1
kind: Deployment
metadata: {name: myapp, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: myapp}}
  template:
    metadata: {labels: {app: myapp}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: %s,
         labelSelector: {matchLabels: {app: myapp}}}
      containers:
      - {name: app, image: e2e/podserver, ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: myapp-svc, namespace: default}
spec:
  type: %s
  selector: {app: myapp}
  ports: [{port: 80, targetPort: 80, protocol: TCP}]
""" % (spread, service_type)


def app(name, replicas=2, service_type="NodePort"):
    """A small Deployment of the pod server and its Service on port 80 (the
    tests' stand-in for `myapp`), as one List object for `kubectl apply`."""
    return {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}},
                               "spec": {"containers": [{"name": "app", "image": "e2e/podserver",
                                                        "ports": [{"containerPort": 80}]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
         "spec": {"type": service_type, "selector": {"app": name}, "ports": [{"port": 80}]}}]}


# The write-up's MetalLB configuration, as written, with documentation
# addresses for its 192.168.5.5-192.168.5.9.
METALLB_CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  namespace: metallb-system
  name: config
data:
  config: |
    address-pools:
    - name: my-ip-space
      protocol: layer2
      addresses:
      - 192.0.2.200-192.0.2.250
"""
