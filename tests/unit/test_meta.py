from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return yaml.safe_load(f)


def test_the_roles_minimum_ansible_is_the_collections():
    required = re.fullmatch(r">=\s*(\d+\.\d+)(?:\.0)?", load("meta", "runtime.yml")["requires_ansible"]).group(1)
    assert str(load("roles", "microvm", "meta", "main.yml")["galaxy_info"]["min_ansible_version"]) == required
