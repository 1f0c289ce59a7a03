"""Vision: where the faces are. Face detectors behind one interface (`Detector`, chosen by
`[detector] kind`), zones (which part of the frame is analysed, which is never looked at) and
the tracker that follows a face between detections. Owns `[detector]`, `[tracker]` and `[[zones]]`.

A second detector is one new module here and one entry in `detector.DETECTORS`.
"""
