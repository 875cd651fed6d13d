"""URLs of the till (POS): /pos/<organization slug>/…"""

from django.urls import path

from fidelo.web.pos import views

app_name = "pos"

urlpatterns = [
    path("", views.index_view, name="index"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("<slug:org>/", views.till_view, name="till"),
    path("<slug:org>/store/", views.store_view, name="store"),
    path("<slug:org>/members/<int:member_id>/", views.member_view, name="member"),
    path("<slug:org>/members/<int:member_id>/purchase/", views.purchase_view, name="purchase"),
    path("<slug:org>/members/<int:member_id>/redeem/", views.redeem_view, name="redeem"),
    path("<slug:org>/members/<int:member_id>/wallet/", views.wallet_view, name="wallet"),
    path("<slug:org>/vouchers/<str:code>/", views.voucher_view, name="voucher"),
    path("<slug:org>/vouchers/<str:code>/use/", views.voucher_use_view, name="voucher_use"),
]
