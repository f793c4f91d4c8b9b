"""Every named error has one HTTP status, answered as JSON with its code (issue 11 item 4, issue 15 item 3)."""

from __future__ import annotations

import inspect

import pytest

from model import errors
from server.web import errors as http_errors

NAMED = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.HrvcastError) and cls is not errors.HrvcastError
]


def instance(cls: type[errors.HrvcastError]) -> errors.HrvcastError:
    exc = cls.__new__(cls)  # whatever its constructor takes: only its class matters here
    Exception.__init__(exc, f"a {cls.__name__} happened")
    exc.message = f"a {cls.__name__} happened"
    return exc


def test_every_named_error_is_in_the_status_table():
    listed = dict(http_errors.STATUS_OF)
    missing = [cls.__name__ for cls in NAMED if cls not in listed]
    assert not missing, f"add these to server/web/errors.py STATUS_OF with their HTTP status: {missing}"


@pytest.mark.parametrize("cls", [cls for cls, _ in http_errors.STATUS_OF], ids=lambda c: c.__name__)
def test_each_error_gets_its_own_status_and_leaves_as_json(cls, app):
    status = dict(http_errors.STATUS_OF)[cls]
    assert http_errors.status_of(instance(cls)) == status  # not shadowed by a parent listed before it

    def fail():
        raise instance(cls)

    app.add_url_rule(f"/raise/{cls.__name__}", f"raise_{cls.__name__}", fail)
    r = app.test_client().get(f"/raise/{cls.__name__}", headers={"Authorization": "Bearer " + app_token(app)})
    assert r.status_code == status
    assert r.get_json() == {"message": f"a {cls.__name__} happened", "error": cls.code}


def test_an_error_missing_from_the_table_is_a_500_not_a_client_error():
    class Unlisted(errors.HrvcastError):
        code = "unlisted"

    assert http_errors.status_of(Unlisted("x")) == 500


def app_token(app) -> str:
    return app.extensions["hrvcast"].settings.api_token
