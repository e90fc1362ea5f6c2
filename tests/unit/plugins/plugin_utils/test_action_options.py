from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib

import pytest
import yaml
from ansible.utils.plugin_docs import merge_fragment

from ansible_collections.microvm.credentials.plugins.modules import microvm_credentials, microvm_credentials_info
from ansible_collections.microvm.credentials.plugins.module_utils._host.credstore import KEYS
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.options import (
    COMMON_SPEC,
    CREDENTIALS,
    INFO,
    ActionOptions,
    ArgumentError,
    display,
    instances_arg,
    variable,
)

GOOD = {"instances": {}, "store": "/srv/store"}
validate = CREDENTIALS.validate


def test_defaults():
    params = validate(GOOD)
    assert params == dict(GOOD, rotate=[], shared_store=None, credential_directory="/var/lib/microvm-credentials", key="auto", backend="vault",
                          vault_id=None, purge=True, lock_timeout=300, sops_recipients=[], sops_admins=[], sops_binary=None,
                          sops_config=None, rekey=False)


def test_instances_are_left_to_the_configuration_check():
    # _schema.instances names the path of each error; null means no instance.
    assert validate(dict(GOOD, instances=None))["instances"] is None
    assert validate(dict(GOOD, instances=["web"]))["instances"] == ["web"]


def test_instances_are_passed_on_as_they_are_never_copied():
    # Every instance and credential of the host: the validator's deep copy of it grew with their number.
    instances = {"web": {"credentials": dict(("c%d" % i, {"generate": {"type": "hex"}}) for i in range(50))}}
    assert validate(dict(GOOD, instances=instances))["instances"] is instances
    assert INFO.validate(dict(GOOD, instances=instances))["instances"] is instances


class PlainTemplar:
    def is_possibly_template(self, value):
        return "{{" in value

    def template(self, value):
        raise AssertionError("nothing to template")


def test_without_instances_the_hosts_microvm_instances_are_read():
    mine = {"web": {"kernel": "/k"}}
    assert instances_arg(validate({"store": "/srv/store"}), {"microvm_instances": mine}, PlainTemplar()) is mine
    given = {"db": {}}
    assert instances_arg(validate(dict(GOOD, instances=given)), {"microvm_instances": mine}, PlainTemplar()) is given


def test_a_null_microvm_instances_is_no_instance_as_when_given():
    assert instances_arg(validate({"store": "/srv/store"}), {"microvm_instances": None}, PlainTemplar()) is None


def test_missing_instances_are_still_an_error():
    with pytest.raises(ArgumentError, match="instances: not given, and the host has no microvm_instances"):
        instances_arg(validate({"store": "/srv/store"}), {}, PlainTemplar())


def test_credential_directory_is_a_host_path_never_expanded_here():
    assert validate(dict(GOOD, credential_directory="~/creds"))["credential_directory"] == "~/creds"


@pytest.mark.parametrize("options", [CREDENTIALS, INFO], ids=["microvm_credentials", "microvm_credentials_info"])
def test_directory_is_a_deprecated_alias_of_credential_directory(options, monkeypatch):
    deprecated = []
    monkeypatch.setattr(display, "deprecated", lambda msg, **kwargs: deprecated.append(dict(kwargs, msg=msg)))
    assert options.validate(dict(GOOD, directory="/srv/creds"))["credential_directory"] == "/srv/creds"
    assert deprecated == [dict(msg="%s: option directory is deprecated, use credential_directory" % options.action,
                               version="1.0.0", collection_name="microvm.credentials")]


def test_credential_directory_and_its_alias_are_not_both_set():
    with pytest.raises(ArgumentError, match="^microvm_credential_directory: both credential_directory and its alias directory are set"):
        validate(dict(GOOD, credential_directory="/srv/a", directory="/srv/b"))


def test_credential_directory_is_not_deprecated(monkeypatch):
    deprecated = []
    monkeypatch.setattr(display, "deprecated", lambda msg, **kwargs: deprecated.append(msg))
    validate(dict(GOOD, credential_directory="/srv/creds"))
    assert deprecated == []


@pytest.mark.parametrize("name", ["key", "old_key"])
def test_a_bad_value_given_by_an_alias_names_the_users_variable(name):
    options = ActionOptions("x", dict(key=dict(type="str", choices=list(KEYS), aliases=["old_key"])))
    with pytest.raises(ArgumentError, match="^microvm_credential_key: value of key must be one of"):
        options.validate({name: "tpm"})


@pytest.mark.parametrize("args,message", [
    (dict(GOOD, key="tpm"), "microvm_credential_key: value of key must be one of: auto, host, tpm2, host+tpm2, got: tpm"),
    (dict(GOOD, rotate={"a": 1}), "microvm_rotate: "),
    (dict(GOOD, purge="maybe"), "purge: "),
    (dict(GOOD, lock_timeout="soon"), "lock_timeout: "),
    (dict(GOOD, lock_timeout=-1), "lock_timeout: must be a number of seconds, 0 or more, got -1"),
    ({"instances": {}}, "microvm_credentials_store: missing required arguments: store"),
    (dict(GOOD, store=""), "microvm_credentials_store is required"),
    (dict(GOOD, colour="blue"), "Unsupported parameters for (microvm.credentials.microvm_credentials): colour."),
])
def test_errors_name_the_users_variable(args, message):
    with pytest.raises(ArgumentError) as err:
        validate(args)
    assert str(err.value).startswith(message)


def test_first_bad_option_in_spec_order_is_named():
    with pytest.raises(ArgumentError, match="^microvm_rotate: "):
        validate(dict(GOOD, rotate={"a": 1}, purge="maybe"))


def test_variable_of_an_option():
    assert variable({}, "store") == "microvm_credentials_store"
    assert variable({}, "key") == "microvm_credential_key"
    assert variable({}, "lock_timeout") == "lock_timeout"


def test_no_option_renames_a_variable():
    # Errors name the role's variables; no caller ever passed other names.
    assert not [o for o in CREDENTIALS.spec if o.endswith("var_name")] and not [o for o in COMMON_SPEC if o.endswith("var_name")]


def test_info_defaults():
    assert INFO.validate({"instances": None}) == dict(
        instances=None, store=None, credential_directory="/var/lib/microvm-credentials", key="auto", backend="vault", vault_id=None,
        report_key=None, sops_recipients=[], sops_admins=[], sops_binary=None, sops_config=None)


@pytest.mark.parametrize("args,message", [
    ({"instances": {}, "key": "tpm"}, "microvm_credential_key: value of key must be one of: auto, host, tpm2, host+tpm2, got: tpm"),
    ({"instances": {}, "rotate": []}, "Unsupported parameters for (microvm.credentials.microvm_credentials_info): rotate."),
])
def test_info_errors_name_the_users_variable(args, message):
    with pytest.raises(ArgumentError) as err:
        INFO.validate(args)
    assert str(err.value).startswith(message)


def documented_options(module):
    """The options MODULE documents, its doc fragments merged in as ansible-doc merges them."""
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = doc.get("options", {})
    for name in doc.get("extends_documentation_fragment", []):
        collection, fragment = name.rsplit(".", 1)
        assert collection == "microvm.credentials", name
        fragment_module = importlib.import_module("ansible_collections.microvm.credentials.plugins.doc_fragments." + fragment)
        merge_fragment(options, yaml.safe_load(fragment_module.ModuleDocFragment.DOCUMENTATION)["options"])
    return options


@pytest.mark.parametrize("module,options", [(microvm_credentials, CREDENTIALS), (microvm_credentials_info, INFO)],
                         ids=["microvm_credentials", "microvm_credentials_info"])
def test_the_module_documents_exactly_these_options(module, options):
    # The module file only documents the action; nothing else keeps the two in step.
    docs = documented_options(module)
    assert sorted(docs) == sorted(options.spec)
    for name, spec in options.spec.items():
        doc = docs[name]
        assert doc.get("default") == spec.get("default"), name
        assert doc.get("required", False) == spec.get("required", False), name
        assert doc.get("choices") == spec.get("choices"), name
        assert doc.get("elements") == spec.get("elements"), name
        assert doc.get("aliases") == spec.get("aliases"), name
        # Documented as the user sees them; validated as raw (instances: _schema.instances) or str (a host path).
        assert doc["type"] == {"instances": "dict", "credential_directory": "path"}.get(name, spec["type"]), name
