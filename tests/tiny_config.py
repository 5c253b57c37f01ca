"""The tiny configuration the sweep and plot suites build on: the seed's NTK and mean-field runs of
a sigmoid network on a sigmoid teacher, at n = 40, d = 30; and their 2 x 2 cell sweep's axes."""

# Two sizes (n, d and k varying together) by two activations of the NTK run.
TINY_AXES = """[[sweep.axes]]
name = "size"
keys = ["data.n", "data.d", "model.k"]
values = [[40, 30, 50], [60, 30, 40]]
[[sweep.axes]]
name = "act"
key = "runs.ntk.activation"
values = ["relu", "tanh"]
"""


def tiny_config(epochs=3, k=50):
    return f"""experiment = "tiny"
seed = 42
epochs = {epochs}
[data]
d = 30
n = 40
[model]
k = {k}
[[inputs]]
name = "main"
teacher = "sigmoid"
[[runs]]
name = "ntk"
activation = "sigmoid"
gamma = 1.0
lr = 2.0
[[runs]]
name = "mf"
activation = "sigmoid"
gamma = 0.1
lr = 20.0
"""
