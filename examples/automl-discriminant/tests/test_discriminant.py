"""The example plugin passes automl's conformance kit."""

from automl_discriminant import FAMILY

from automl.testing import parametrize_with_checks


@parametrize_with_checks([FAMILY])
def test_conformance(family, check):
    check(family)
