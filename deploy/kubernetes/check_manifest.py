"""Validates deploy/kubernetes/mpijob.yaml offline: every document parses, the MPIJob uses only the fields of the
Kubeflow MPI Operator's kubeflow.org/v2beta1 schema (pkg/apis/kubeflow/v2beta1 in kubeflow/mpi-operator) with
the right types and allowed values, and the pods' volumes, mounts and claims refer to each other consistently.
Prints one line per problem and exits 1 if there is any."""
import sys

import yaml

# Field -> expected type, or a nested schema (dict), or a set of allowed strings.
REPLICA_SPEC = {"replicas": int, "restartPolicy": {"Always", "OnFailure", "Never", "ExitCode"}, "template": dict}
RUN_POLICY = {"cleanPodPolicy": {"None", "Running", "All"}, "ttlSecondsAfterFinished": int,
              "activeDeadlineSeconds": int, "backoffLimit": int, "schedulingPolicy": dict, "suspend": bool,
              "managedBy": str}
MPIJOB_SPEC = {"slotsPerWorker": int, "runPolicy": RUN_POLICY, "sshAuthMountPath": str,
               "mpiImplementation": {"OpenMPI", "Intel", "MPICH"}, "launcherCreationPolicy":
               {"AtStartup", "WaitForWorkersReady"}, "runLauncherAsWorker": bool, "mpiReplicaSpecs": dict}
REQUIRED_SPEC = ["mpiReplicaSpecs"]

problems = []


def check_fields(value, schema, where):
    if not isinstance(value, dict):
        problems.append(f"{where}: expected a mapping")
        return
    for key, item in value.items():
        expected = schema.get(key)
        if expected is None:
            problems.append(f"{where}.{key}: not a field of the v2beta1 schema")
        elif isinstance(expected, dict):
            check_fields(item, expected, f"{where}.{key}")
        elif isinstance(expected, set):
            if item not in expected:
                problems.append(f"{where}.{key}: {item!r} is not one of {sorted(expected)}")
        elif not isinstance(item, expected) or (expected is int and isinstance(item, bool)):
            problems.append(f"{where}.{key}: expected {expected.__name__}, got {type(item).__name__}")


def check_pod(template, where, claims):
    spec = template.get("spec", {})
    volumes = {v.get("name"): v for v in spec.get("volumes", [])}
    for volume in volumes.values():
        claim = volume.get("persistentVolumeClaim", {}).get("claimName")
        if claim is not None and claim not in claims:
            problems.append(f"{where}: volume {volume['name']} claims {claim}, which this file does not define")
    containers = spec.get("initContainers", []) + spec.get("containers", [])
    if not spec.get("containers"):
        problems.append(f"{where}: no containers")
    for container in containers:
        for key in ("name", "image"):
            if not container.get(key):
                problems.append(f"{where}: a container without {key}")
        for mount in container.get("volumeMounts", []):
            if mount.get("name") not in volumes:
                problems.append(f"{where}: container {container.get('name')} mounts {mount.get('name')}, "
                                f"which is not a volume of the pod")


def check_mpijob(job, claims):
    if job.get("apiVersion") != "kubeflow.org/v2beta1":
        problems.append(f"MPIJob: apiVersion {job.get('apiVersion')!r}, expected 'kubeflow.org/v2beta1'")
    if not job.get("metadata", {}).get("name"):
        problems.append("MPIJob: metadata.name is missing")
    spec = job.get("spec", {})
    check_fields(spec, MPIJOB_SPEC, "spec")
    for key in REQUIRED_SPEC:
        if key not in spec:
            problems.append(f"spec.{key}: required")
    replicas = spec.get("mpiReplicaSpecs", {})
    for role, replica in replicas.items():
        if role not in ("Launcher", "Worker"):
            problems.append(f"spec.mpiReplicaSpecs.{role}: the roles are Launcher and Worker")
            continue
        check_fields(replica, REPLICA_SPEC, f"spec.mpiReplicaSpecs.{role}")
        check_pod(replica.get("template", {}), f"spec.mpiReplicaSpecs.{role}.template", claims)
    if replicas.get("Launcher", {}).get("replicas", 1) != 1:
        problems.append("spec.mpiReplicaSpecs.Launcher.replicas: must be 1")
    if "Worker" not in replicas:
        problems.append("spec.mpiReplicaSpecs.Worker: missing")


def main(path):
    with open(path) as f:
        documents = [d for d in yaml.safe_load_all(f) if d is not None]
    claims = {d["metadata"]["name"] for d in documents if d.get("kind") == "PersistentVolumeClaim"}
    jobs = [d for d in documents if d.get("kind") == "MPIJob"]
    if not jobs:
        problems.append("no MPIJob in the file")
    for job in jobs:
        check_mpijob(job, claims)
    for problem in problems:
        print(f"{path}: {problem}")
    if not problems:
        print(f"{path}: {len(jobs)} MPIJob, {len(claims)} claim(s): valid against kubeflow.org/v2beta1")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
