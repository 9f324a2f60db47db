"""The live art. 278 vote calculator (static/js/handover.js) in Chromium."""

from __future__ import annotations

import pytest

from ruihe_saas.auth.models import Role
from tests.factories import member
from tests.functional.test_handover_views import logged_in, page_url, text_of
from tests.unit.handover.builders import make_estate


@pytest.fixture
def owner(db):
    return member(Role.OWNER)


@pytest.fixture
def estate(owner):
    return make_estate(owner.tenant_id, "MOER")


@pytest.mark.browser
def test_vote_calculator_computes_the_ratios_live(client, owner, estate, chromium_browser):
    """The page's own markup and script in Chromium: typing the six numbers shows the four
    ratios and the verdict, computed exactly (2/3 passes, exactly 1/2 fails)."""
    from pathlib import Path

    logged_in(client, owner)
    html = text_of(client.get(page_url(owner, estate)))
    script = (
        Path(__file__).resolve().parents[2] / "ruihe_saas" / "static" / "js" / "handover.js"
    ).read_text(encoding="utf-8")
    context = chromium_browser.new_context()
    try:
        page = context.new_page()
        page.set_content(html.replace('src="/static/js/handover.js"', ""))
        page.add_script_tag(content=script)

        def fill(**values):
            for name, value in values.items():
                page.fill(f'[data-art278-input="{name}"]', value)

        def row(name):
            cells = f'[data-art278-check="{name}"]'
            return (
                page.text_content(f"{cells} [data-art278-percent]"),
                page.get_attribute(cells, "class"),
            )

        overall = '[data-testid="art278-overall"]'
        assert (
            page.text_content('[data-art278-check="approval_owners"] [data-art278-percent]') == "—"
        )
        fill(
            total_owners="300",
            participating_owners="200",
            approving_owners="100",
            total_area="30000",
            participating_area="20000.00",
            approving_area="10000.01",
        )
        assert row("participation_owners") == ("66.67%", "pass")
        assert row("participation_area") == ("66.67%", "pass")
        assert row("approval_owners") == ("50.00%", "fail")  # exactly half fails
        assert row("approval_area") == ("50.00%", "pass")  # one cent more than half
        assert "fail" in page.get_attribute(overall, "class")
        fill(approving_owners="101")
        assert row("approval_owners") == ("50.50%", "pass")
        assert "pass" in page.get_attribute(overall, "class")
        fill(participating_area="19999.99")
        assert row("participation_area") == ("66.67%", "fail")  # shown rounded, still < 2/3
        fill(total_area="")
        assert row("participation_area") == ("—", "")
        assert "pass" not in (page.get_attribute(overall, "class") or "").split()
    finally:
        context.close()
