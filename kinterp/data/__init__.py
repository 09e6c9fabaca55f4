"""Datasets, and the bundled MNIST sample (``mnist_5k.npz`` and its split) as package data.

Modules: :mod:`datasets` (the dataset registry and loaders: npz, IDX, image folders, the
built-ins; a core plugin), :mod:`modeldata` (a dataset as a technique sees it: model-ready,
geometry- and label-checked), :mod:`preprocess` (a user's own image files -> model
geometry) and :mod:`colourdigits` (mnist-5k colourised as the 32x32 RGB dataset ``mnist-rgb``;
a core plugin). Numpy and Pillow only: nothing here imports TensorFlow.
"""
