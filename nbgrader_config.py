"""nbgrader configuration: this repository is an nbgrader course.

Sources are ``solutions/<assignment>/<assignment>.ipynb``, released student versions
``exercises/<assignment>/<assignment>.ipynb`` (prefer ``nbkit release``, which runs nbgrader's own
preprocessors and also adds exact ``raises-exception`` tags). nbgrader's working folders
(submitted, autograded, feedback) live under the git-ignored ``grading/``; the gradebook is
``gradebook.db`` (git-ignored) in the course folder::

    nbgrader generate_assignment 01_scalar_backprop --force   # fills gradebook.db
    nbgrader autograde 01_scalar_backprop                     # grading/submitted/<student>/<a>/
    nbgrader export                                           # grades.csv

For grading that student code cannot fool, use ``nbkit grade`` instead of ``nbgrader autograde``.
"""

from nbgrader.converters import GenerateAssignment

c = get_config()  # noqa: F821 - injected by traitlets when nbgrader loads this file

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "grading/submitted"
c.CourseDirectory.autograded_directory = "grading/autograded"
c.CourseDirectory.feedback_directory = "grading/feedback"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
c.Execute.timeout = 120
# same output as `nbkit release`: also tag the cells that raise with `raises-exception`
c.GenerateAssignment.preprocessors = [
    *GenerateAssignment.class_traits()["preprocessors"].default(),
    "nbkit.grading.release.TagRaisingCells",
]
