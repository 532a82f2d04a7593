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
