import photogpt_batch_acme
from jsonschema import Draft202012Validator


def acme_models():
    found = []
    photogpt_batch_acme.register_models(register=found.append)
    return {model.id: model for model in found}


MODEL = acme_models()["acme-motion-1"]


def job(**options):
    return {"id": "shot", "model": "acme-motion-1", "prompt": "a bottle", "options": options}


def test_duration_outside_2_to_10_is_rejected():
    validator = Draft202012Validator(MODEL.job_schema())
    assert validator.is_valid(job(duration=10))
    assert not validator.is_valid(job(duration=11))
    assert not validator.is_valid(job(duration="5"))


def test_loop_longer_than_6_seconds_is_an_error_at_duration():
    (problem,) = MODEL.check(job(loop=True, duration=8))
    assert problem.path == ("options", "duration")
    assert MODEL.check(job(loop=True)) == []  # the default 5 is fine


def test_request_body_is_exact():
    assert MODEL.build_request(job(style="anime")) == {
        "modelID": "acme-motion-1",
        "prompt": "a bottle",
        "options": {"acme": {"style": "anime"}},
    }
