"""nbgrader configuration of the course: labs are written in solutions/ and released to labs/.

Regenerate the student versions after editing a solution notebook:
    ./kit labs            (= cnnkit course build: nbgrader generate_assignment per lab, then an
                          audit that refuses solution code, hidden tests or outputs in labs/)
"""

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "cnnkit"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "labs"
# What a student sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# Formgrader and the feedback pages show what students wrote and what their code printed, inside
# the instructor's logged-in Jupyter: no script in an answer or an output may run there. Outputs
# are cleaned when shown; students' Markdown (which Formgrader's template never cleans) is
# replaced by its cleaned rendering once autograde has scored it (cnnkit/course/safe_html.py).
c.HTMLExporter.sanitize_html = True
from cnnkit.course.safe_html import autograde_preprocessors  # noqa: E402

c.Autograde.autograde_preprocessors = autograde_preprocessors()
