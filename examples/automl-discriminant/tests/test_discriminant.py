"""The example plugin passes automl's conformance kit: its family every model check, its
analysis the analysis check (a real tiny run)."""

from automl_discriminant import AGREEMENT, FAMILY

from automl.testing import check_analysis, parametrize_with_checks


@parametrize_with_checks([FAMILY])
def test_conformance(family, check):
    check(family)


def test_the_agreement_analysis_conforms():
    check_analysis(AGREEMENT)
