#!/usr/bin/env python3
"""What a platform team checks in rendered manifests before it signs them off.

    posture.py [--posture] [--capacity] [--self-test] RENDERED.yaml

--posture   no HS256 anywhere, nor a detector's day read from a file
            (OVERDUE_CLOCK_FILE); every service serves TLS, has the kubelet's
            health-only port and its probes on it, and takes the identity
            provider's keys; every feed URL is https with the CA given;
            every database URL says sslmode=verify-full with a root
            certificate; a NetworkPolicy admits only named pods to the
            database pods, and every workload that holds a database URL is
            among them; CloudNativePG's superuser access is off; no
            Service declares plaintext HTTP/2; mail leaves only over TLS
            (SMTP_URL smtps:// or ?tls=required); every feed a service
            reads is served by a Deployment here whose FEED_READERS (when
            set) names the reader, and the NetworkPolicies on both sides
            let the reader reach the feed's port; a service that signs what
            it publishes (SIGNING_KEYS) reads its key from a Secret mounted
            in its container, never one made for the process.
--capacity  per replica, concurrent requests x largest message x 2 (the
            bytes and their decoded form) + 64 MiB for the process fits in
            75 % of the memory limit; at every autoscaler's maximum, the
            connections (pool + 1 LISTEN + 1 lease per feed read, per
            replica; 2 per migrating pod of a rollout; 2 for the bootstrap)
            stay under PostgreSQL's max_connections less a reserve.
--self-test breaks the manifests one way at a time and checks that each
            break is reported, so that a check that silently stops checking
            fails here.

Prints what it computed; exits 1 when anything does not hold.
"""

import base64
import copy
import re
import sys
from urllib.parse import parse_qs, urlparse

import yaml

MIB = 1 << 20
PROCESS_BYTES = 64 * MIB
MEMORY_SHARE = 0.75
DECODED_COPIES = 2
BOOTSTRAP_CONNECTIONS = 2
MIGRATION_CONNECTIONS = 2
# Defaults of the services (services/platform/src/config.rs), used when a
# manifest does not say; --capacity asks that it does.
DEFAULTS = {"GRPC_MAX_CONCURRENT_REQUESTS": 64, "GRPC_MAX_MESSAGE_BYTES": 4 * MIB, "DATABASE_MAX_CONNECTIONS": 10}
DATABASE_URLS = ("DATABASE_URL", "DATABASE_MIGRATION_URL", "DATABASE_ADMIN_URL")
# The services that sign what they publish, by Deployment, and the variable
# naming their private key's file: the bank's key, which an outsider can check
# signatures against, never one made for the process.
SIGNING_KEYS = {"bonds": "REPORT_SIGNING_KEY_FILE", "committee": "CHAIN_SIGNING_KEY_FILE"}


def quantity(text):
    """Bytes of a Kubernetes memory quantity."""
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 10**3, "M": 10**6, "G": 10**9}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", str(text).strip())
    if not match or (match.group(2) and match.group(2) not in units):
        raise ValueError(f"not a memory quantity: {text!r}")
    return int(float(match.group(1)) * units.get(match.group(2), 1))


class Manifests:
    def __init__(self, docs):
        self.docs = [d for d in docs if isinstance(d, dict)]

    def of(self, kind):
        return [d for d in self.docs if d.get("kind") == kind]

    def named(self, kind, name):
        return next((d for d in self.of(kind) if d["metadata"]["name"] == name), None)

    def secret_value(self, name, key):
        secret = self.named("Secret", name)
        if secret is None:
            return None
        if key in (secret.get("stringData") or {}):
            return secret["stringData"][key]
        raw = (secret.get("data") or {}).get(key)
        return base64.b64decode(raw).decode() if raw is not None else None

    def env(self, container):
        """The container's environment as the kubelet would build it."""
        env = {}
        for source in container.get("envFrom") or []:
            ref = source.get("configMapRef")
            if ref:
                env.update((self.named("ConfigMap", ref["name"]) or {}).get("data") or {})
        for var in container.get("env") or []:
            if "value" in var:
                env[var["name"]] = str(var["value"])
                continue
            source = var.get("valueFrom") or {}
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                env[var["name"]] = self.secret_value(ref["name"], ref["key"])
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                env[var["name"]] = ((self.named("ConfigMap", ref["name"]) or {}).get("data") or {}).get(ref["key"])
        return env

    def workloads(self):
        """(workload, pod spec) of every Deployment and Job."""
        for kind in ("Deployment", "Job"):
            for workload in self.of(kind):
                yield workload, workload["spec"]["template"]["spec"]

    def services(self):
        """(Deployment, its serving container, that container's environment)."""
        for deployment in self.of("Deployment"):
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                if (container.get("args") or [None])[0] == "serve":
                    yield deployment, container, self.env(container)

    def allows(self, direction, pod, other, port):
        """Whether the NetworkPolicies selecting pods labelled `pod` let
        traffic on `port` in from (Ingress) or out to (Egress) pods labelled
        `other` in the same namespace; with no policy selecting them, all
        traffic passes. A peer chosen by a labelled namespaceSelector or an
        ipBlock is taken not to be in the namespace."""
        rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        selecting = []
        for policy in self.of("NetworkPolicy"):
            spec = policy["spec"]
            types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))
            if direction in types and selects(spec.get("podSelector") or {}, pod):
                selecting.append(policy)
        if not selecting:
            return True
        for policy in selecting:
            for rule in policy["spec"].get(rules_key) or []:
                ports = rule.get("ports")
                if ports and not any(str(p.get("port")) == str(port) for p in ports):
                    continue
                if not rule.get(peers_key):
                    return True
                for peer in rule[peers_key]:
                    if "ipBlock" in peer or peer.get("namespaceSelector") not in (None, {}):
                        continue
                    if selects(peer.get("podSelector") or {}, other):
                        return True
        return False


def selects(selector, labels):
    """Whether a label selector (matchLabels, matchExpressions) selects `labels`."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, operator, values = e["key"], e["operator"], e.get("values") or []
        if (operator == "In" and labels.get(key) not in values) or (operator == "NotIn" and labels.get(key) in values):
            return False
        if (operator == "Exists" and key not in labels) or (operator == "DoesNotExist" and key in labels):
            return False
    return True


def pod_labels(workload):
    return ((workload["spec"]["template"].get("metadata") or {}).get("labels")) or {}


def in_mounted_secret(workload, container, path):
    """Whether `path` lies in a Secret volume that `container` mounts."""
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"].get("volumes") or []}
    return any(
        path.startswith(mount["mountPath"].rstrip("/") + "/") and "secret" in volumes.get(mount["name"], {})
        for mount in container.get("volumeMounts") or []
    )


def posture(m):
    errors = []
    for workload, spec in m.workloads():
        name = f"{workload['kind']} {workload['metadata']['name']}"
        for container in spec.get("initContainers", []) + spec["containers"]:
            env = m.env(container)
            for var in ("AUTH_HS256_SECRET", "AUTH_ALLOW_HS256"):
                if env.get(var):
                    errors.append(f"{name}/{container['name']}: sets {var} (a shared secret is for development only)")
            if "OVERDUE_CLOCK_FILE" in env:
                errors.append(f"{name}/{container['name']}: sets OVERDUE_CLOCK_FILE (the detector's day from a file is for development only)")
            for var in DATABASE_URLS:
                url = env.get(var)
                if var in env and (not url or "sslmode=verify-full" not in url or "sslrootcert=" not in url):
                    errors.append(f"{name}/{container['name']}: {var} lacks sslmode=verify-full with sslrootcert")
            smtp = env.get("SMTP_URL")
            if "SMTP_URL" in env and not (
                (smtp or "").startswith("smtps://")
                or ((smtp or "").startswith("smtp://") and parse_qs(urlparse(smtp).query).get("tls") == ["required"])
            ):
                errors.append(f"{name}/{container['name']}: SMTP_URL={smtp} sends mail without TLS (smtps:// or smtp://…?tls=required)")
        if any(var in m.env(c) for c in spec.get("initContainers", []) + spec["containers"] for var in DATABASE_URLS):
            for cluster in m.of("Cluster"):
                db = {"cnpg.io/cluster": cluster["metadata"]["name"]}
                if not (m.allows("Ingress", db, pod_labels(workload), 5432) and m.allows("Egress", pod_labels(workload), db, 5432)):
                    errors.append(f"{name}: holds a database URL, but the NetworkPolicies keep it from the database {db['cnpg.io/cluster']}")
    for deployment, container, env in m.services():
        name = f"Deployment {deployment['metadata']['name']}"
        for var in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CLIENT_CA_FILE", "GRPC_HEALTH_ADDR"):
            if not env.get(var):
                errors.append(f"{name}: {var} is not set (every gRPC port serves TLS; the kubelet asks the health port)")
        if not (env.get("AUTH_JWKS_URL", "").startswith("https://") or env.get("AUTH_JWKS_FILE") or env.get("AUTH_PUBLIC_KEY_FILE")):
            errors.append(f"{name}: no identity provider keys (AUTH_JWKS_URL over https, AUTH_JWKS_FILE or AUTH_PUBLIC_KEY_FILE)")
        health_port = (env.get("GRPC_HEALTH_ADDR") or "").rpartition(":")[2]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            port = str(((container.get(probe) or {}).get("grpc") or {}).get("port", ""))
            if probe == "readinessProbe" or port:
                if port != health_port:
                    errors.append(f"{name}: {probe} asks port {port or 'none'}, not the health port {health_port or '(none)'}")
        feeds = {k: v for k, v in env.items() if k.endswith("_FEED_URL")}
        for var, url in feeds.items():
            if not (url or "").startswith("https://"):
                errors.append(f"{name}: {var}={url} is not https")
        if feeds and not env.get("PEER_TLS_CA_FILE"):
            errors.append(f"{name}: reads feeds without PEER_TLS_CA_FILE")
        if feeds and not (env.get("PEER_TLS_CERT_FILE") or env.get("SERVICE_TOKEN_FILE")):
            errors.append(f"{name}: reads feeds with neither a client certificate nor a mounted token")
        key_var = SIGNING_KEYS.get(deployment["metadata"]["name"])
        if key_var and not env.get(key_var):
            errors.append(f"{name}: {key_var} is not set (it signs with the bank's key, from a Secret)")
        elif key_var and not in_mounted_secret(deployment, container, env[key_var]):
            errors.append(f"{name}: {key_var}={env[key_var]} is not in a Secret mounted in the container")
    served = {d["metadata"]["name"]: (d, env) for d, _, env in m.services()}
    for reader, (deployment, env) in served.items():
        for var, url in env.items():
            if not var.endswith("_FEED_URL"):
                continue
            peer = var[: -len("_FEED_URL")].lower()
            if peer not in served:
                errors.append(f"Deployment {reader}: {var} names {peer}, which no Deployment here serves")
                continue
            producer, producer_env = served[peer]
            readers = [r.strip() for r in (producer_env.get("FEED_READERS") or "").split(",") if r.strip()]
            if readers and reader not in readers:
                errors.append(f"Deployment {reader}: reads {peer}'s feed, but {peer}'s FEED_READERS ({','.join(readers)}) does not name it")
            port = urlparse(url or "").port
            if not m.allows("Egress", pod_labels(deployment), pod_labels(producer), port):
                errors.append(f"Deployment {reader}: its NetworkPolicy cannot reach {peer}:{port}, whose feed it reads")
            if not m.allows("Ingress", pod_labels(producer), pod_labels(deployment), port):
                errors.append(f"Deployment {reader}: {peer}'s NetworkPolicy does not admit it on port {port}, whose feed it reads")
    for service in m.of("Service"):
        for port in service["spec"].get("ports", []):
            if port.get("appProtocol") == "kubernetes.io/h2c":
                errors.append(f"Service {service['metadata']['name']}: port {port.get('name')} declares plaintext h2c")
    clusters = m.of("Cluster")
    if not clusters:
        errors.append("no database cluster (CloudNativePG Cluster) to check")
    for cluster in clusters:
        name = cluster["metadata"]["name"]
        if cluster["spec"].get("enableSuperuserAccess") is not False:
            errors.append(f"Cluster {name}: enableSuperuserAccess must be false")
        guarded = False
        for policy in m.of("NetworkPolicy"):
            selector = (policy["spec"].get("podSelector") or {}).get("matchLabels") or {}
            if selector.get("cnpg.io/cluster") != name or "Ingress" not in policy["spec"].get("policyTypes", []):
                continue
            open_rules = [
                rule for rule in policy["spec"].get("ingress", [])
                if not rule.get("from") or any(not peer or peer == {"namespaceSelector": {}} for peer in rule["from"])
            ]
            if open_rules:
                errors.append(f"NetworkPolicy {policy['metadata']['name']}: a rule admits every pod")
            else:
                guarded = True
        if not guarded:
            errors.append(f"Cluster {name}: no NetworkPolicy selects its pods (cnpg.io/cluster: {name})")
    return errors


def capacity(m, report=print):
    errors = []
    total, lines = 0, []
    for deployment, container, env in m.services():
        name = deployment["metadata"]["name"]
        missing = [v for v in DEFAULTS if not env.get(v)]
        if missing:
            errors.append(f"Deployment {name}: set {', '.join(missing)} explicitly")
        value = {v: int(env.get(v) or DEFAULTS[v]) for v in DEFAULTS}
        limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
        if not limit:
            errors.append(f"Deployment {name}: no memory limit")
            continue
        need = value["GRPC_MAX_CONCURRENT_REQUESTS"] * value["GRPC_MAX_MESSAGE_BYTES"] * DECODED_COPIES + PROCESS_BYTES
        room = int(quantity(limit) * MEMORY_SHARE)
        report(
            f"  {name}: {value['GRPC_MAX_CONCURRENT_REQUESTS']} requests x {value['GRPC_MAX_MESSAGE_BYTES'] // 1024} KiB"
            f" x {DECODED_COPIES} + {PROCESS_BYTES // MIB} MiB = {need // MIB} MiB of {room // MIB} MiB"
            f" ({int(MEMORY_SHARE * 100)} % of {limit})"
        )
        if need > room:
            errors.append(f"Deployment {name}: {need // MIB} MiB at full concurrency exceeds {room // MIB} MiB ({limit} x {MEMORY_SHARE})")
        hpa = next((h for h in m.of("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == name), None)
        replicas = hpa["spec"]["maxReplicas"] if hpa else deployment["spec"].get("replicas", 1)
        feeds = sum(1 for k in env if k.endswith("_FEED_URL"))
        per_replica = value["DATABASE_MAX_CONNECTIONS"] + 1 + feeds
        surge = (deployment["spec"].get("strategy", {}).get("rollingUpdate") or {}).get("maxSurge", 1)
        migrating = (surge if isinstance(surge, int) else 1) * MIGRATION_CONNECTIONS
        total += replicas * per_replica + migrating
        lines.append(
            f"  {name}: {replicas} replicas x ({value['DATABASE_MAX_CONNECTIONS']} pool + 1 listen + {feeds} leases)"
            f" + {migrating} migrating = {replicas * per_replica + migrating}"
        )
    clusters = m.of("Cluster")
    if not clusters:
        report("  no database in these manifests: connections not counted")
        return errors
    total += BOOTSTRAP_CONNECTIONS
    for cluster in clusters:
        parameters = (cluster["spec"].get("postgresql") or {}).get("parameters") or {}
        maximum = int(parameters.get("max_connections", 100))
        reserve = max(30, maximum // 10)
        for line in lines:
            report(line)
        report(f"  + {BOOTSTRAP_CONNECTIONS} bootstrap = {total} connections of {maximum - reserve} ({maximum} max_connections less a reserve of {reserve})")
        if total > maximum - reserve:
            errors.append(f"Cluster {cluster['metadata']['name']}: {total} connections at the autoscalers' maximum exceed {maximum} - {reserve}")
    return errors


def self_test(m):
    """Each break of the example must be reported, and the example itself must pass."""
    def container(doc_m, deployment):
        d = doc_m.named("Deployment", deployment)
        return next(c for c in d["spec"]["template"]["spec"]["containers"] if c.get("args", [None])[0] == "serve")

    def set_env(doc_m, deployment, name, value):
        container(doc_m, deployment).setdefault("env", []).append({"name": name, "value": value})

    def secret(doc_m, name, key, change):
        # kustomize's generators append a hash of the contents to the name.
        s = next(x for x in doc_m.of("Secret") if re.fullmatch(re.escape(name) + r"(-[a-z0-9]{10})?", x["metadata"]["name"]))
        value = base64.b64decode(s["data"][key]).decode()
        s["data"][key] = base64.b64encode(change(value).encode()).decode()

    def first_cluster(doc_m):
        return doc_m.of("Cluster")[0]

    def policy(doc_m, name):
        return doc_m.named("NetworkPolicy", name)

    def database_policy(doc_m):
        return next(p for p in doc_m.of("NetworkPolicy") if "cnpg.io/cluster" in (p["spec"]["podSelector"].get("matchLabels") or {}))

    def without_peer(rules, peers_key, name):
        """The rules less every peer that selects pods by app.kubernetes.io/name `name`."""
        kept = []
        for rule in rules:
            if rule.get(peers_key):
                rule[peers_key] = [p for p in rule[peers_key]
                                   if ((p.get("podSelector") or {}).get("matchLabels") or {}).get("app.kubernetes.io/name") != name]
                if not rule[peers_key]:
                    continue
            kept.append(rule)
        return kept

    def without_env(doc_m, deployment, name):
        c = container(doc_m, deployment)
        c["env"] = [e for e in c["env"] if e["name"] != name]

    def emptied(doc_m, deployment, name):
        """The volume `name` of the deployment as an emptyDir instead of its source."""
        volumes = doc_m.named("Deployment", deployment)["spec"]["template"]["spec"]["volumes"]
        volumes[:] = [{"name": name, "emptyDir": {}} if v["name"] == name else v for v in volumes]

    def refuse_database(doc_m, name):
        for rule in database_policy(doc_m)["spec"]["ingress"]:
            for peer in rule["from"]:
                for e in (peer.get("podSelector") or {}).get("matchExpressions") or []:
                    e["values"] = [v for v in e.get("values") or [] if v != name]

    breaks = [
        ("an HS256 secret", lambda d: set_env(d, "applications", "AUTH_HS256_SECRET", "x" * 40), "AUTH_HS256_SECRET"),
        ("a clock from a file", lambda d: set_env(d, "monitoring", "OVERDUE_CLOCK_FILE", "/tmp/clock"), "OVERDUE_CLOCK_FILE"),
        ("a service without TLS", lambda d: [c["data"].pop("TLS_CERT_FILE", None) for c in d.of("ConfigMap")], "TLS_CERT_FILE"),
        ("a plaintext feed", lambda d: set_env(d, "monitoring", "APPLICATIONS_FEED_URL", "http://applications:50051"), "is not https"),
        ("a probe on the TLS port", lambda d: container(d, "committee")["readinessProbe"]["grpc"].update(port=50052), "readinessProbe"),
        ("a database URL without verify-full", lambda d: secret(d, "committee-database", "url", lambda u: u.replace("verify-full", "prefer")), "verify-full"),
        ("no NetworkPolicy in front of the database", lambda d: d.docs.remove(next(p for p in d.of("NetworkPolicy") if "cnpg.io/cluster" in (p["spec"]["podSelector"].get("matchLabels") or {}))), "no NetworkPolicy"),
        ("an open database NetworkPolicy", lambda d: next(p for p in d.of("NetworkPolicy") if "cnpg.io/cluster" in (p["spec"]["podSelector"].get("matchLabels") or {}))["spec"]["ingress"].append({}), "admits every pod"),
        ("superuser access on", lambda d: first_cluster(d)["spec"].update(enableSuperuserAccess=True), "enableSuperuserAccess"),
        ("a plaintext h2c Service", lambda d: d.named("Service", "applications")["spec"]["ports"][0].update(appProtocol="kubernetes.io/h2c"), "h2c"),
        ("no identity provider", lambda d: [c["data"].pop("AUTH_JWKS_URL", None) for c in d.of("ConfigMap")], "identity provider"),
        ("512 concurrent requests", lambda d: set_env(d, "applications", "GRPC_MAX_CONCURRENT_REQUESTS", "512"), "exceeds"),
        ("40 replicas at most", lambda d: next(h for h in d.of("HorizontalPodAutoscaler") if h["metadata"]["name"] == "applications")["spec"].update(maxReplicas=40), "connections at the autoscalers"),
        ("an implicit pool size", lambda d: container(d, "monitoring")["env"].remove(next(e for e in container(d, "monitoring")["env"] if e["name"] == "DATABASE_MAX_CONNECTIONS")), "explicitly"),
        ("mail without TLS", lambda d: set_env(d, "notices", "SMTP_URL", "smtp://relay.bank.example:25"), "SMTP_URL"),
        ("a feed reader its producer does not name", lambda d: set_env(d, "applications", "FEED_READERS", "committee,monitoring"), "FEED_READERS"),
        ("a feed reader the producer's NetworkPolicy refuses", lambda d: policy(d, "committee")["spec"].update(ingress=without_peer(policy(d, "committee")["spec"]["ingress"], "from", "notices")), "does not admit"),
        ("a feed the reader's NetworkPolicy cannot reach", lambda d: policy(d, "notices")["spec"].update(egress=without_peer(policy(d, "notices")["spec"]["egress"], "to", "monitoring")), "cannot reach"),
        ("a feed no Deployment serves", lambda d: d.docs.remove(d.named("Deployment", "monitoring")), "no Deployment here serves"),
        ("a service the database's NetworkPolicy refuses", lambda d: refuse_database(d, "notices"), "keep it from the database"),
        ("bonds left out of monitoring's FEED_READERS", lambda d: set_env(d, "monitoring", "FEED_READERS", "applications,notices"), "Deployment bonds: reads monitoring's feed"),
        ("bonds refused by applications' NetworkPolicy", lambda d: policy(d, "applications")["spec"].update(ingress=without_peer(policy(d, "applications")["spec"]["ingress"], "from", "bonds")), "Deployment bonds: applications's NetworkPolicy does not admit"),
        ("no report signing key", lambda d: without_env(d, "bonds", "REPORT_SIGNING_KEY_FILE"), "REPORT_SIGNING_KEY_FILE is not set"),
        ("a report signing key from no Secret", lambda d: emptied(d, "bonds", "report-signing"), "not in a Secret"),
        ("no chain signing key", lambda d: without_env(d, "committee", "CHAIN_SIGNING_KEY_FILE"), "Deployment committee: CHAIN_SIGNING_KEY_FILE is not set"),
        ("a chain signing key from no Secret", lambda d: emptied(d, "committee", "chain-signing"), "CHAIN_SIGNING_KEY_FILE=/etc/socialloans/chain-signing/key.pem is not in a Secret"),
    ]
    failures = []
    clean = posture(m) + capacity(m, report=lambda _: None)
    if clean:
        failures.append(f"the manifests themselves fail: {clean}")
    for what, brk, expected in breaks:
        broken = Manifests(copy.deepcopy(m.docs))
        brk(broken)
        found = posture(broken) + capacity(broken, report=lambda _: None)
        if not any(expected in e for e in found):
            failures.append(f"{what} went unnoticed (reported: {found})")
    print(f"  self-test: {len(breaks) - len([f for f in failures if 'unnoticed' in f])} of {len(breaks)} breaks reported")
    return failures


def main(argv):
    flags = {a for a in argv if a.startswith("--")}
    files = [a for a in argv if not a.startswith("--")]
    if len(files) != 1 or not flags <= {"--posture", "--capacity", "--self-test"}:
        print(__doc__, file=sys.stderr)
        return 2
    with open(files[0]) as f:
        m = Manifests(yaml.safe_load_all(f))
    errors = []
    if "--capacity" in flags:
        errors += capacity(m)
    if "--posture" in flags:
        errors += posture(m)
    if "--self-test" in flags:
        errors += self_test(m)
    for error in errors:
        print(f"  FAIL {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
