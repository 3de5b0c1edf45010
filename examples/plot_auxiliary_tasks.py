"""
Primary and auxiliary tasks: which sensors help predict a failure
=================================================================

One task matters: whether an engine fails under given operating conditions. Failures
are rare and costly to label; sensor readings are cheap, and some of them
(temperature, vibration) follow the engine's health closely, others (cabin noise,
fuel flow) do not. We learn the failure task together with *exceedances* of the
sensor readings (is the reading above its 70 % quantile?), choose the auxiliary
tasks that help by greedy forward selection on cross-validated log-loss of the
failure task (:func:`rkhsmtl.auxiliary.select_auxiliary_tasks`), and check the
choice on held-out failures.

The data are simulated (:func:`rkhsmtl.datasets.make_auxiliary_tasks`): the two
helpful sensors share the failure's latent function up to noise, the two others are
unrelated to it; the selection does not know which is which.

Runs in about 10 s of CPU time at full size (300 engines); prints the selection
path and the test scores and draws two figures. Run as a script it opens the
figures in windows, or, without a display (matplotlib's ``Agg`` backend), saves
them as ``plot_auxiliary_tasks_<n>.png`` in the current directory;
``--save-figures DIR`` saves them into ``DIR``.
"""

import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from rkhsmtl import MultiTaskKernelClassifier
from rkhsmtl.auxiliary import select_auxiliary_tasks
from rkhsmtl.datasets import make_auxiliary_tasks
from rkhsmtl.metrics import make_task_scorer
from rkhsmtl.structure import MeanRegularized

parser = argparse.ArgumentParser(description="Primary and auxiliary tasks.")
parser.add_argument("--save-figures", metavar="DIR",
                    help="save the figures as PNG files into DIR")
args = parser.parse_args()
# The test suite (and the documentation build) runs every example with
# RKHSMTL_EXAMPLE_SMALL=1, on less data.
small = bool(os.environ.get("RKHSMTL_EXAMPLE_SMALL"))
n_samples = 200 if small else 300

# %%
# The data
# --------
# Column 0 is the failure (1.0 for a failure, NaN where the engine was not
# inspected: a quarter of them are); the four sensors are measured on every engine. We
# give the columns the names of the story (the generator's own names are the
# planted truth).
X, Y, truth = make_auxiliary_tasks(
    n_samples=n_samples, n_helpful=2, n_unrelated=2, primary="classification",
    auxiliary="regression", relatedness=0.95, noise=0.3, primary_fraction=0.25,
    random_state=2)
story = {"primary": "failure", "helpful_0": "temperature", "helpful_1": "vibration",
         "unrelated_0": "cabin_noise", "unrelated_1": "fuel_flow"}
names = [story[t] for t in truth]
readings = pd.DataFrame(Y, columns=names)
print("planted truth:", dict(zip(names, truth, strict=True)))

# %%
# Sensor readings as exceedance tasks
# -----------------------------------
# The kernel classifier learns binary tasks only, so a real-valued auxiliary task
# becomes the binary task "the reading exceeds its 70 % quantile" (missing
# readings stay missing). The exceedances keep what matters for a failure -- how
# extreme the reading is -- and put every task on the logistic loss; the threshold
# is a choice of the analyst (a regulatory limit, a quantile).
sensors = names[1:]
thresholds = readings[sensors].quantile(0.7)
tasks = readings.copy()
tasks[sensors] = (readings[sensors] > thresholds).astype(float).where(
    readings[sensors].notna())
X_train, X_test, Y_train, Y_test = train_test_split(X, tasks, test_size=0.5,
                                                    random_state=2)

# %%
# Greedy forward selection
# ------------------------
# Each step fits the failure task with the sensors chosen so far and one more,
# for every remaining sensor, and keeps the sensor with the best cross-validated
# log-loss of the failure task (the same 5 folds for every subset; the other
# tasks are not scored). The whole path is kept: the ranking, the score after each
# step and every subset tried.
model = MultiTaskKernelClassifier(alpha=0.3, gamma=0.1,
                                  task_structure=MeanRegularized(strength=20.0))
selection = select_auxiliary_tasks(model, X_train, Y_train, primary="failure",
                                   cv=5)
print(selection)
print(selection.to_frame().round(4).to_string(index=False))
print("ranking:", selection.ranking)
print("gain of each step:", np.round(selection.gains, 4).tolist())

ax = selection.plot()
ax.set_title("greedy selection of auxiliary tasks for the failure task")

# %%
# Checking the choice on held-out failures
# ----------------------------------------
# The selection's own scores are optimistic (each step keeps the best of several
# noisy estimates), so the choice is checked on engines it has not seen: the
# test AUC of the failure task alone, with the selected sensors, and with every
# sensor. :func:`rkhsmtl.metrics.make_task_scorer` scores the failure column
# only.
auc = make_task_scorer("roc_auc", tasks="failure")
subsets = {
    "failure alone": [],
    "+ selected": selection.selected,
    "+ every sensor": sensors,
}
test_auc = {}
for label, auxiliary in subsets.items():
    columns = ["failure", *auxiliary]
    fitted = model.fit(X_train, Y_train[columns])
    test_auc[label] = auc(fitted, X_test, Y_test[columns])
    print(f"{label:<16} test AUC of the failure task: {test_auc[label]:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.bar(list(test_auc), list(test_auc.values()), color=["C7", "C0", "C1"])
low = min(test_auc.values())
ax.set_ylim(max(0.0, low - 0.1), 1.0)
ax.set_ylabel("test AUC of the failure task")
ax.set_title("held-out check of the selected auxiliary tasks")

# sphinx_gallery_start_ignore
# Run as a script (the gallery renders the figures of every cell itself and
# defines no __file__): show the figures, or save them where there is no display.
if "__file__" in globals():
    from rkhsmtl.plotting import show_or_save_figures

    show_or_save_figures("plot_auxiliary_tasks", args.save_figures)
# sphinx_gallery_end_ignore
