"""gammacore.rtl"""
