"""Admin texts that reach the pages as data (job and correction status values, activation ways), marked for `pybabel extract`.

Their translations live in translations/*/LC_MESSAGES/messages.po with every other string.
"""

from ..i18n import N_

#: Job.status values, shown through `_(job.status)`.
JOB_STATUSES = (N_("queued"), N_("running"), N_("finished"), N_("failed"), N_("cancelled"))
#: Correction.status values, shown through `_(c.status)`.
CORRECTION_STATUSES = (N_("pending"), N_("accepted"), N_("rejected"))
#: Activation.via values, shown through `_(activation.via)`.
ACTIVATION_VIAS = (N_("admin"), N_("api"), N_("cli"), N_("rollback"), N_("default"))
