# The instructor's nbgrader course folder (formgrader, release, collect, release_feedback), with
# the course's own nbgrader_config.py (source solutions/, release exercises/, grading/...).
import os

c = get_config()  # noqa: F821 - injected by traitlets
course_dir = os.environ.get("NBKIT_COURSE_DIR")
if course_dir:
    c.CourseDirectory.root = course_dir
    if os.path.isfile(os.path.join(course_dir, "nbgrader_config.py")):
        load_subconfig(os.path.join(course_dir, "nbgrader_config.py"))  # noqa: F821
