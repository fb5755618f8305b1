"""The stained nuclei's HSV boxes, one definition for the application's segmentation
(lab_app.core.segmentation) and the context check's cell mask (model/context_swap.py).

``model`` never imports ``lab_app``, so the numbers live here and the application imports them.
Each box is ((hue, saturation, value) low, (hue, saturation, value) high) on OpenCV's 8-bit HSV
scale: hue 0..179 (degrees / 2), saturation and value 0..255.
"""

from __future__ import annotations

# Violet-to-purple nuclei: the application's default HSV box before the stain rule replaced it
# (model 2.3.0). The context check keeps it, so that the check's figures in every model card
# since 2.0.0 measure the same swap.
VIOLET_NUCLEI = ((120, 50, 0), (165, 255, 255))
# The pale pink nuclei of some Pro-B fields: saturation only 30..50, but paler (V >= 245) than
# the pinkish red cells of some Benign fields, which stay below 240.
PALE_PINK_NUCLEI = ((133, 30, 245), (175, 255, 255))
