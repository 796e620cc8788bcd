# nbgrader settings of every user's server in the class (on JUPYTER_CONFIG_PATH, set by the Hub's
# class_config.py): the course and its exchange, and the exchange classes that keep students out
# of each other's submissions and feedback (nbkit.grading.exchange).
import os

c = get_config()  # noqa: F821 - injected by traitlets
c.CourseDirectory.course_id = os.environ.get("NBKIT_COURSE_ID", "")
c.Exchange.root = os.environ.get("NBKIT_EXCHANGE", "/srv/nbgrader/exchange")
c.ExchangeFactory.submit = "nbkit.grading.exchange.ExchangeSubmit"
c.ExchangeFactory.collect = "nbkit.grading.exchange.ExchangeCollect"
c.ExchangeFactory.release_feedback = "nbkit.grading.exchange.ExchangeReleaseFeedback"

# Where accounts are not in the passwd database (Kubernetes: one uid per user's container), the
# exchange learns each student's uid from a JSON roster {"student": uid, ...}.
_roster = os.environ.get("NBKIT_ROSTER_UIDS")
if _roster and os.path.isfile(_roster):
    import json

    with open(_roster, encoding="utf-8") as _fh:
        c.ExchangeCollect.uids = c.ExchangeReleaseFeedback.uids = json.load(_fh)
